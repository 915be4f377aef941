namespace ManagedEmbed.Hub;

/// <summary>
/// A hub model named by its repository id is not in the model cache and could not be obtained (offline mode, no
/// fetcher, or the fetch failed: then <see cref="Exception.InnerException"/> says why). Front ends add how to get it.
/// </summary>
public sealed class ModelNotFoundException : ManagedEmbedException
{
    /// <summary>Creates the exception.</summary>
    public ModelNotFoundException(string repoId, string cacheDirectory, string message, Exception? fetchFailure = null)
        : base(message, fetchFailure ?? new DirectoryNotFoundException(cacheDirectory))
    {
        RepoId = repoId;
        CacheDirectory = cacheDirectory;
        FetchFailure = fetchFailure;
    }

    /// <summary>The repository id (org/name) that was looked for.</summary>
    public string RepoId { get; }
    /// <summary>Where the model cache keeps it.</summary>
    public string CacheDirectory { get; }
    /// <summary>Why fetching it failed; null when no fetch was attempted (offline mode, or no fetcher).</summary>
    public Exception? FetchFailure { get; }
}

/// <summary>The directory a pull or an import would create already exists and holds something else.</summary>
public sealed class TargetDirectoryConflictException : ManagedEmbedException
{
    /// <summary>Creates the exception.</summary>
    public TargetDirectoryConflictException(string directory, string message) : base(message) { Directory = directory; }

    /// <summary>The directory that is in the way.</summary>
    public string Directory { get; }
}

/// <summary>No SHA-256 is known for a model's weights (not pinned, none published by the server), so they cannot be verified.</summary>
public sealed class UnpinnedWeightsException : ManagedEmbedException
{
    /// <summary>Creates the exception.</summary>
    public UnpinnedWeightsException(string repoId, string revision, string message) : base(message) { RepoId = repoId; Revision = revision; }

    /// <summary>The repository id.</summary>
    public string RepoId { get; }
    /// <summary>The revision whose weights have no known digest.</summary>
    public string Revision { get; }
}
