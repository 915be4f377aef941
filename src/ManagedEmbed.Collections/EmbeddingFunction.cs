using Microsoft.Extensions.AI;

namespace ManagedEmbed.Collections;

/// <summary>
/// How a collection embeds documents and query texts, recorded as ChromaDB records an embedding function: a name plus
/// its configuration. The model is named (a hub id such as <c>sentence-transformers/all-MiniLM-L6-v2</c>), never a
/// path, so a collection directory opens on another machine whose host resolves the same name.
/// </summary>
/// <param name="Name">The embedding function's kind (ChromaDB's <c>name</c>), <see cref="SentenceTransformer"/> for membed's encoders.</param>
/// <param name="Model">The model id (ChromaDB's <c>model_name</c>).</param>
/// <param name="Dimension">The width of the embeddings it produces.</param>
/// <param name="Normalize">Whether it returns unit-length embeddings.</param>
/// <param name="Fingerprint">A fingerprint of the weights' digest (<c>sha256:</c> and the first 16 hex digits of the
/// SHA-256 of the weights file); null when unknown (collections written before membed recorded it).</param>
public sealed record EmbeddingFunctionSpec(string Name, string Model, int Dimension, bool Normalize, string? Fingerprint)
{
    /// <summary>ChromaDB's name for a sentence-transformers embedding function.</summary>
    public const string SentenceTransformer = "sentence_transformer";

    /// <summary>True when <see cref="Model"/> is a filesystem path rather than a model's name.</summary>
    public bool IsPath => Model.StartsWith('/') || Model.StartsWith('.') || Model.Contains('\\') || Path.IsPathRooted(Model);
}

/// <summary>An embedding generator together with the spec describing the model it runs.</summary>
/// <param name="Spec">What the host actually found for the requested model (its name, width, normalization and fingerprint).</param>
/// <param name="Generator">The generator; the collection that receives it disposes it.</param>
public sealed record ResolvedEmbeddingFunction(EmbeddingFunctionSpec Spec, IEmbeddingGenerator<string, Embedding<float>> Generator);

/// <summary>
/// The host's side of the embedding seam: the store loads no models; it asks the host to turn a model id (recorded in
/// a collection, or given by the user) into a generator. The CLI and in-process apps use the one built on membed's
/// model resolution (ManagedEmbed.Extensions.AI's <c>ManagedEmbedFunctionResolver</c>); a server or a test may supply
/// its own.
/// </summary>
public interface IEmbeddingFunctionResolver
{
    /// <summary>Resolves <paramref name="model"/> (a model id) to a generator and the spec of what was found.</summary>
    /// <exception cref="ManagedEmbedException">The model cannot be found or loaded.</exception>
    ResolvedEmbeddingFunction Resolve(string model);
}

/// <summary>Why a collection's embedding function cannot be used as it stands.</summary>
public enum EmbeddingFunctionProblem
{
    /// <summary>The model found has other weights than recorded (same width): usable only overridden knowingly.</summary>
    FingerprintMismatch,
    /// <summary>The model found produces embeddings of another width: never usable for this collection.</summary>
    DimensionMismatch,
    /// <summary>A format-1 collection names its model by a directory path that cannot be loaded here: name the model.</summary>
    LegacyPathUnavailable,
    /// <summary>The model is a directory without a name to record (not in the model cache, no pull manifest).</summary>
    UnnamedModel,
    /// <summary>The store was opened without an <see cref="IEmbeddingFunctionResolver"/>.</summary>
    NoResolver,
}

/// <summary>A collection's embedding function cannot be used as it stands (see <see cref="Problem"/>).</summary>
public sealed class EmbeddingFunctionException : ManagedEmbedException
{
    /// <summary>Creates the error.</summary>
    public EmbeddingFunctionException(string message, EmbeddingFunctionProblem problem) : base(message) { Problem = problem; }

    /// <summary>Creates the error with its cause.</summary>
    public EmbeddingFunctionException(string message, EmbeddingFunctionProblem problem, Exception inner) : base(message, inner) { Problem = problem; }

    /// <summary>What is wrong, for callers that add their own hint (the CLI names the flag that fixes it).</summary>
    public EmbeddingFunctionProblem Problem { get; }
}
