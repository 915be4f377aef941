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

/// <summary>The recorded embedding function and the model found for it disagree (see <see cref="Reason"/>).</summary>
public sealed class EmbeddingFunctionMismatchException : ManagedEmbedException
{
    /// <summary>Creates the error.</summary>
    public EmbeddingFunctionMismatchException(string message, string reason) : base(message) { Reason = reason; }

    /// <summary>"fingerprint" (same width, different weights: overridable knowingly) or "dimension" (never usable).</summary>
    public string Reason { get; }
}
