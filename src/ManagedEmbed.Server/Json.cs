using System.Text.Json.Serialization;

namespace ManagedEmbed.Server;

internal sealed record OpenAiErrorBody(string Message, string Type, string? Param, string? Code);
internal sealed record OpenAiError(OpenAiErrorBody Error);
internal sealed record TeiError(string Error, string ErrorType);
internal sealed record ModelCard(string Id, string Object, long Created, string OwnedBy);
internal sealed record ModelList(string Object, ModelCard[] Data);
internal sealed record TokenInfo(int Id, string Text, bool Special);
internal sealed record HealthStatus(string Status);
internal sealed record ServerInfo(
    string ModelId, string ModelDtype, int Dimension, int MaxInputLength, bool Normalize, int MaxBatchTokens,
    int MaxConcurrentRequests, int MaxClientBatchSize, long MaxRequestBodyBytes, bool AutoTruncate, string Version);

/// <summary>Source-generated JSON for every response type (no reflection: Native AOT safe).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(OpenAiError))]
[JsonSerializable(typeof(TeiError))]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(TokenInfo[][]))]
[JsonSerializable(typeof(float[][]))]
[JsonSerializable(typeof(HealthStatus))]
[JsonSerializable(typeof(ServerInfo))]
internal sealed partial class ServerJson : JsonSerializerContext;
