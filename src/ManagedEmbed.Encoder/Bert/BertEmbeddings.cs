using ManagedEmbed.Encoder.Configuration;
using ManagedEmbed.Encoder.SafeTensors;
using ManagedEmbed.Kernels;

namespace ManagedEmbed.Encoder.Bert;

/// <summary>
/// BertEmbeddings: word + token type 0 + absolute position, then LayerNorm (dropout is identity at inference).
/// The tables are read in place from the memory-mapped weights.
/// </summary>
public sealed class BertEmbeddings
{
    private readonly FloatTensor _word, _position, _tokenType;
    private readonly float[] _lnGamma, _lnBeta;
    private readonly float _eps;
    private readonly int _hidden, _vocab, _maxPositions;

    internal BertEmbeddings(BertWeights w, BertConfig c)
    {
        _word = w.Get("embeddings.word_embeddings.weight");
        _position = w.Get("embeddings.position_embeddings.weight");
        _tokenType = w.Get("embeddings.token_type_embeddings.weight");
        _lnGamma = w.GetArray("embeddings.LayerNorm.weight");
        _lnBeta = w.GetArray("embeddings.LayerNorm.bias");
        _eps = c.LayerNormEps;
        _hidden = c.HiddenSize;
        _vocab = c.VocabSize;
        _maxPositions = c.MaxPositionEmbeddings;
    }

    /// <summary>Writes the embedded, normalized tokens of <paramref name="batch"/> into <paramref name="hidden"/> [tokens, hidden].</summary>
    public void Forward(TokenBatch batch, Span<float> hidden)
    {
        int h = _hidden;
        var tokenType0 = _tokenType.Row(0);
        for (int s = 0; s < batch.Count; s++)
        {
            int offset = batch.Offsets[s], length = batch.Lengths[s];
            if (length > _maxPositions) throw new ManagedEmbedException($"sequence of {length} tokens exceeds max_position_embeddings {_maxPositions}");
            for (int t = 0; t < length; t++)
            {
                int id = batch.Ids[offset + t];
                if ((uint)id >= (uint)_vocab) throw new ManagedEmbedException($"token id {id} is outside the vocabulary [0, {_vocab})");
                var row = hidden.Slice((offset + t) * h, h);
                var word = _word.Row(id);
                var pos = _position.Row(t);
                // Same association as Hugging Face: (inputs_embeds + token_type_embeddings) + position_embeddings.
                for (int i = 0; i < h; i++) row[i] = (word[i] + tokenType0[i]) + pos[i];
            }
        }
        Normalization.LayerNorm(hidden[..(batch.TotalTokens * h)], _lnGamma, _lnBeta, _eps);
    }
}
