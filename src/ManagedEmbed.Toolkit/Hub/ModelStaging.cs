using System.Security.Cryptography;
using System.Text.Json;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Hub;

/// <summary>
/// The publication protocol every model source shares: a lock beside the target (<c>.NAME.lock</c>, removed when
/// done), a staging directory (<c>.NAME.partial/</c>), and one rename that makes the complete directory appear.
/// </summary>
internal sealed class ModelStaging : IDisposable
{
    private readonly FileStream _lock;

    public string Target { get; }
    public string Parent { get; }
    public string Staging { get; }
    public string LockPath { get; }

    private ModelStaging(string target, string parent, string staging, string lockPath, FileStream lockFile)
    {
        Target = target; Parent = parent; Staging = staging; LockPath = lockPath; _lock = lockFile;
    }

    /// <summary>Takes the lock for <paramref name="target"/>; fails when another process holds it.</summary>
    public static ModelStaging Lock(string target)
    {
        target = Path.GetFullPath(target).TrimEnd(Path.DirectorySeparatorChar);
        string parent = Path.GetDirectoryName(target) ?? throw new ManagedEmbedException($"cannot pull into the file-system root ({target})");
        string name = Path.GetFileName(target);
        Directory.CreateDirectory(parent);
        string lockPath = Path.Combine(parent, "." + name + ".lock");
        FileStream fs;
        try { fs = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (IOException) { throw new ManagedEmbedException($"another pull is writing {target} (lock {lockPath} is held)"); }
        return new ModelStaging(target, parent, Path.Combine(parent, "." + name + ".partial"), lockPath, fs);
    }

    /// <summary>Makes the staging directory the target in one rename, after syncing every directory in it.</summary>
    public void Publish() => DurableFile.PublishDirectory(Staging, Target); // only an empty Target gets here

    /// <summary>Releases the lock and removes its file (a waiting pull re-checks the target under a fresh lock).</summary>
    public void Dispose()
    {
        _lock.Dispose();
        DurableFile.TryDelete(LockPath);
    }

    /// <summary>
    /// Writes the manifest (<see cref="ModelCache.ManifestName"/>) listing every file of the staged directory with its
    /// size and SHA-256. <paramref name="verified"/> holds the digests the source already checked (the weights: 90 MB
    /// are not hashed twice); other files are hashed here.
    /// </summary>
    public void WriteManifest(string repoId, string revision, string source, IReadOnlyList<string> files,
        IReadOnlyDictionary<string, string> verified, Action<Utf8JsonWriter>? extra = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            w.WriteStartObject();
            w.WriteString("repo", repoId);
            w.WriteString("revision", revision);
            w.WriteString("source", source);
            extra?.Invoke(w);
            w.WriteString("pulled_utc", DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
            w.WriteStartArray("files");
            foreach (string path in files)
            {
                string full = Path.Combine(Staging, path.Replace('/', Path.DirectorySeparatorChar));
                w.WriteStartObject();
                w.WriteString("path", path);
                w.WriteNumber("size", new FileInfo(full).Length);
                w.WriteString("sha256", verified.TryGetValue(path, out string? sha) ? sha : Sha256Of(full));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        DurableFile.WriteAllBytes(Path.Combine(Staging, ModelCache.ManifestName), ms.ToArray());
    }

    /// <summary>The SHA-256 (lowercase hex) of a file.</summary>
    public static string Sha256Of(string path)
    {
        using var f = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(f));
    }
}
