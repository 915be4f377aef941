namespace ManagedEmbed.Cli;

internal static class ProductCommands
{
    public static int Search(string[] args) => throw new ManagedEmbedException("'search' is not implemented yet");

    public static int Eval(string[] args) => throw new ManagedEmbedException("'eval' is not implemented yet");

    public static int Cluster(string[] args) => throw new ManagedEmbedException("'cluster' is not implemented yet");

    public static int Pull(string[] args) => throw new ManagedEmbedException("'pull' is not implemented yet");

}
