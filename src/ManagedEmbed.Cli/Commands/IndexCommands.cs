namespace ManagedEmbed.Cli;

internal static class IndexCommands
{
    public static int Index(string[] args) => throw new ManagedEmbedException("'index' is not implemented yet");

    public static int Data(string[] args) => throw new ManagedEmbedException("'data' is not implemented yet");

}
