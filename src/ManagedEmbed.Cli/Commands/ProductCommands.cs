using ManagedEmbed.Hub;

namespace ManagedEmbed.Cli;

internal static class ProductCommands
{
    public static int Search(string[] args) => throw new ManagedEmbedException("'search' is not implemented yet");

    public static int Eval(string[] args) => throw new ManagedEmbedException("'eval' is not implemented yet");

    public static int Cluster(string[] args) => throw new ManagedEmbedException("'cluster' is not implemented yet");

    /// <summary>`membed pull ORG/NAME [--dir DIR] [--endpoint URL] [--revision REV] [--sha256 HEX]`.</summary>
    public static int Pull(string[] args)
    {
        var a = Args.Parse(args, ["--dir", "--endpoint", "--revision", "--sha256"]);
        if (a.Positional.Count != 1)
            throw new ManagedEmbedException(a.Positional.Count == 0
                ? $"pull needs a model repository id, e.g. 'membed pull {HubModels.DefaultRepoId}'"
                : $"pull takes one repository id, got {a.Positional.Count} arguments");
        string repo = a.Positional[0];
        Uri endpoint = new("https://huggingface.co");
        if (a.Get("--endpoint") is { } ep && (!Uri.TryCreate(ep, UriKind.Absolute, out endpoint!) || endpoint.Scheme is not ("http" or "https")))
            throw new ManagedEmbedException($"option --endpoint must be an http(s) URL, got '{ep}'");

        ProgressBar? bar = null;
        string? barFile = null;
        var options = new PullOptions
        {
            Endpoint = endpoint,
            Revision = a.Get("--revision"),
            TargetDirectory = a.Get("--dir"),
            ModelSha256 = a.Get("--sha256"),
            Log = msg => { bar?.Dispose(); Console.Error.WriteLine("membed: " + msg); },
            Progress = p =>
            {
                if (!ProgressBar.Enabled) return;
                if (barFile != p.File) { bar?.Dispose(); bar = ProgressBar.Create(p.File, bytes: true); barFile = p.File; }
                bar?.Report(p.Received, p.Total);
            },
        };
        PullResult result;
        try { result = ModelPuller.PullAsync(repo, options).GetAwaiter().GetResult(); }
        finally { bar?.Dispose(); }
        string rev = result.Revision.Length == 40 ? result.Revision[..12] : result.Revision;
        Console.Out.WriteLine(result.AlreadyPresent
            ? $"{result.RepoId}@{rev} is already in {result.Directory}"
            : $"pulled {result.RepoId}@{rev} ({result.Files.Count} files) into {result.Directory}");
        return 0;
    }
}
