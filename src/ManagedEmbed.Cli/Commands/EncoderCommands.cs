using ManagedEmbed.Encoder;
using ManagedEmbed.Encoder.Pooling;

namespace ManagedEmbed.Cli;

/// <summary>Resolves the --model argument of encoder commands to a model directory.</summary>
public static class ModelLocator
{
    /// <summary>
    /// Turns a --model value into a model directory. Today: an existing directory (absolute or relative).
    /// </summary>
    public static string Resolve(string model)
    {
        if (Directory.Exists(model)) return Path.GetFullPath(model);
        throw new ManagedEmbedException($"model directory '{model}' does not exist");
    }
}

internal static class EncoderCommands
{
    public static int Embed(string[] args) => throw new ManagedEmbedException("'embed' is not implemented yet");

    public static int Tokenize(string[] args) => throw new ManagedEmbedException("'tokenize' is not implemented yet");

    public static int Similarity(string[] args) => throw new ManagedEmbedException("'similarity' is not implemented yet");

    public static int Info(string[] args) => throw new ManagedEmbedException("'info' is not implemented yet");

    public static int Model(string[] args)
    {
        if (args.Length == 0) throw new ManagedEmbedException("usage: membed model synth --config C --vocab V --seed N [--pooling mean|cls|max|mean_sqrt_len] [--max-seq-length L] [--no-normalize] --out DIR");
        return args[0] switch
        {
            "synth" => ModelSynth(args[1..]),
            _ => throw new ManagedEmbedException($"unknown 'model' subcommand '{args[0]}' (expected: synth)"),
        };
    }

    private static int ModelSynth(string[] argv)
    {
        var a = Args.Parse(argv, ["--config", "--vocab", "--seed", "--pooling", "--max-seq-length", "--out"], ["--no-normalize"]);
        a.NoPositional();
        string config = a.Require("--config");
        string vocab = a.Require("--vocab");
        string seedText = a.Require("--seed");
        if (!ulong.TryParse(seedText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out ulong seed))
            throw new ManagedEmbedException($"option --seed must be a non-negative integer, got '{seedText}'");
        var pooling = PoolingModes.Parse(a.GetChoice("--pooling", "mean", "mean", "cls", "max", "mean_sqrt_len"));
        int? maxSeq = a.Get("--max-seq-length") is null ? null : a.GetInt("--max-seq-length", 0, 2, int.MaxValue);
        string outDir = a.Require("--out");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = config, VocabPath = vocab, Seed = seed, Pooling = pooling, MaxSeqLength = maxSeq, Normalize = !a.Has("--no-normalize"),
        }, outDir);
        Console.Out.WriteLine($"wrote {Path.GetFullPath(outDir)}");
        return 0;
    }
}
