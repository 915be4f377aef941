namespace ManagedEmbed.Cli;

internal static class CollectionCommands
{
    public static int Collection(string[] args) => throw new ManagedEmbedException("'collection' is not implemented yet");

}
