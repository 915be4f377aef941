namespace ManagedEmbed.Cli;

internal static class EncoderCommands
{
    public static int Embed(string[] args) => throw new ManagedEmbedException("'embed' is not implemented yet");

    public static int Tokenize(string[] args) => throw new ManagedEmbedException("'tokenize' is not implemented yet");

    public static int Similarity(string[] args) => throw new ManagedEmbedException("'similarity' is not implemented yet");

    public static int Info(string[] args) => throw new ManagedEmbedException("'info' is not implemented yet");

    public static int Model(string[] args) => throw new ManagedEmbedException("'model' is not implemented yet");

}
