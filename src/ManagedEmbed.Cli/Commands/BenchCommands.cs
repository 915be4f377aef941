namespace ManagedEmbed.Cli;

internal static class BenchCommands
{
    public static int Bench(string[] args) => throw new ManagedEmbedException("'bench' is not implemented yet");

}
