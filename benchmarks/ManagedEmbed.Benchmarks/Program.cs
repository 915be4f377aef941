using BenchmarkDotNet.Running;

public static class Program
{
    public static void Main(string[] args)
    {
        // `quant ...`: the quantized-search harness driven by benchmarks/quant/quant_peer.py (not BenchmarkDotNet).
        if (args.Length > 0 && args[0] == "quant") { ManagedEmbed.Benchmarks.QuantBench.Run(args[1..]); return; }
        // `attention-ab [threads]`: old vs new attention path alternated in one process (AttentionAB.cs).
        if (args.Length > 0 && args[0] == "attention-ab") { ManagedEmbed.Benchmarks.AttentionAB.Run(args[1..]); return; }
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
    }
}
