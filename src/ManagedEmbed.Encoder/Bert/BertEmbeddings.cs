using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertEmbeddings: word + token type 0 + absolute position, then LayerNorm (dropout is identity at inference).
/// An F32 word table (the largest tensor: vocab × hidden) stays in the file: each token's row is gathered with a
/// positional read straight into the hidden buffer, so neither a copy nor mapped pages of it stay resident (reading
/// it through the mapping left up to the whole table resident on top of the packed dense weights). F16/BF16/F64
/// word tables are converted once to an in-memory float32 table. The small position and token-type tables are
/// read into arrays.
/// </summary>
public sealed class BertEmbeddings
{
    private readonly SafeTensorsFile _file;
    private readonly SafeTensorInfo _wordInfo;
    private readonly float[]? _wordConverted;
    private readonly float[] _position, _tokenType;
    private readonly float[] _lnGamma, _lnBeta;
    private readonly float _eps;
    private readonly int _hidden, _vocab, _maxPositions;

    internal BertEmbeddings(BertWeights w, BertConfig c)
    {
        _file = w.File;
        _wordInfo = w.Info("embeddings.word_embeddings.weight");
        if (!SafeTensorsFile.CanReadRowsDirectly(_wordInfo)) _wordConverted = w.GetArray("embeddings.word_embeddings.weight");
        _position = w.GetArray("embeddings.position_embeddings.weight");
        _tokenType = w.GetArray("embeddings.token_type_embeddings.weight");
        _lnGamma = w.GetArray("embeddings.LayerNorm.weight");
        _lnBeta = w.GetArray("embeddings.LayerNorm.bias");
        _eps = c.LayerNormEps;
        _hidden = c.HiddenSize;
        _vocab = c.VocabSize;
        _maxPositions = c.MaxPositionEmbeddings;
    }

    /// <summary>True when word-embedding rows are read from the file per token (F32 weights) rather than held in memory.</summary>
    public bool GathersWordRowsFromFile => _wordConverted is null;

    /// <summary>Writes the embedded, normalized tokens of <paramref name="batch"/> into <paramref name="hidden"/> [tokens, hidden].</summary>
    public void Forward(TokenBatch batch, Span<float> hidden)
    {
        int h = _hidden;
        ReadOnlySpan<float> tokenType0 = _tokenType.AsSpan(0, h);
        for (int s = 0; s < batch.Count; s++)
        {
            int offset = batch.Offsets[s], length = batch.Lengths[s];
            if (length > _maxPositions) throw new ManagedEmbedException($"sequence of {length} tokens exceeds max_position_embeddings {_maxPositions}");
            for (int t = 0; t < length; t++)
            {
                int id = batch.Ids[offset + t];
                if ((uint)id >= (uint)_vocab) throw new ManagedEmbedException($"token id {id} is outside the vocabulary [0, {_vocab})");
                var row = hidden.Slice((offset + t) * h, h);
                // The word row lands in the output row itself: no scratch, nothing allocated.
                if (_wordConverted is null) _file.ReadRowF32(_wordInfo, id, row);
                else _wordConverted.AsSpan(id * h, h).CopyTo(row);
                ReadOnlySpan<float> pos = _position.AsSpan(t * h, h);
                // Same association as Hugging Face: (inputs_embeds + token_type_embeddings) + position_embeddings.
                for (int i = 0; i < h; i++) row[i] = (row[i] + tokenType0[i]) + pos[i];
            }
        }
        Normalization.LayerNorm(hidden[..(batch.TotalTokens * h)], _lnGamma, _lnBeta, _eps);
    }
}
