using ManagedEmbed.Collections;
using ManagedEmbed.Hub;

namespace ManagedEmbed.Cli;

/// <summary>
/// The command-line half of a library error: libraries name no flags or commands (they do not know how they are
/// driven), so the CLI appends the flag or command that resolves a typed error.
/// </summary>
internal static class Hints
{
    /// <summary>
    /// The hint to append to <paramref name="e"/>'s message ("" when there is none), for a run of the command group
    /// <paramref name="command"/>: the first typed error along the chain of inner exceptions decides.
    /// </summary>
    public static string For(Exception e, string command)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (Own(x, command) is { } hint) return hint;
        return "";
    }

    /// <summary>The hint of one exception; null when it has no say (the chain is searched further).</summary>
    private static string? Own(Exception e, string command) => e switch
    {
        ModelNotFoundException { FetchFailure: null } m =>
            $"; fetch it with 'membed pull {m.RepoId}', or pass --model DIR with a model directory copied from elsewhere",
        ModelNotFoundException m when Unreachable(m.FetchFailure) =>
            $". Run 'membed pull {m.RepoId}' where the hub is reachable and copy the directory it prints, or pass --model DIR with a model directory copied from elsewhere",
        ModelNotFoundException => "", // fetched and refused (a failed check): the message says why, no command helps
        SourceUnreachableException { RepoId: { } repo } =>
            $". Run 'membed pull {repo}' where the hub is reachable and copy the directory it prints; then pass --model DIR",
        TargetDirectoryConflictException when command == "pull" => " (or choose another with --dir)",
        TargetDirectoryConflictException when command == "model" => " (or choose another with --out)",
        UnpinnedWeightsException => "; pass --sha256 HEX to pin one",
        ManagedEmbed.Encoder.Import.ConfigNeededException => " (--config FILE)",
        CollectionDamagedException c => $"; run 'membed collection repair --path {c.StoreRoot} --name {c.Name}'",
        _ => null,
    };

    private static bool Unreachable(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is SourceUnreachableException) return true;
        return false;
    }
}
