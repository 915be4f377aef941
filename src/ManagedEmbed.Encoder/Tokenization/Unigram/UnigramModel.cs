using System.Text;

namespace ManagedEmbed.Encoder.Tokenization.Unigram;

/// <summary>
/// The Unigram segmenter of SentencePiece (unigram_model.cc, Model::EncodeOptimized): a Viterbi pass over the
/// normalized UTF-8 bytes with float32 path scores, where every character that no piece covers on its own gets an
/// unknown node scored min(normal scores) − 10; runs of unknown characters are then merged into one unknown piece
/// (SentencePieceProcessor does this, and HF's Unigram with fuse_unk).
/// </summary>
internal sealed class UnigramModel
{
    private const float UnknownPenalty = 10f;

    // The pieces as a byte trie in CSR form: node n's children are _childByte/_childNode[_first[n].._first[n+1]),
    // sorted by byte; _pieceAt[n] = the piece ending at node n or -1.
    private readonly int[] _first;
    private readonly byte[] _childByte;
    private readonly int[] _childNode;
    private readonly int[] _pieceAt;

    private readonly float[] _scores;
    private readonly SentencePieceType[] _types;
    private readonly float _unknownScore;
    private readonly float _maxScore;

    /// <summary>The id given to unknown characters.</summary>
    public int UnknownId { get; }

    /// <summary>Builds the model. Normal, user-defined and unused pieces enter the trie (unused ones are then
    /// skipped); control and unknown pieces never match text.</summary>
    public UnigramModel(IReadOnlyList<(string Piece, float Score, SentencePieceType Type)> pieces, int unknownId)
    {
        if ((uint)unknownId >= (uint)pieces.Count) throw new ArgumentException($"unknown id {unknownId} is not in the {pieces.Count}-piece vocabulary");
        UnknownId = unknownId;
        _scores = new float[pieces.Count];
        _types = new SentencePieceType[pieces.Count];
        float min = float.MaxValue, max = float.MinValue;
        bool anyNormal = false;
        var edges = new Dictionary<long, int>();
        var pieceAt = new List<int> { -1 };
        for (int id = 0; id < pieces.Count; id++)
        {
            (string piece, float score, SentencePieceType type) = pieces[id];
            _scores[id] = score;
            _types[id] = type;
            if (type == SentencePieceType.Normal)
            {
                min = Math.Min(min, score);
                max = Math.Max(max, score);
                anyNormal = true;
            }
            if (type is not (SentencePieceType.Normal or SentencePieceType.UserDefined or SentencePieceType.Unused)) continue;
            if (piece.Length == 0) throw new ArgumentException($"piece {id} is empty");
            int node = 0;
            foreach (byte b in Encoding.UTF8.GetBytes(piece))
            {
                long key = ((long)node << 8) | b;
                if (!edges.TryGetValue(key, out int child))
                {
                    child = pieceAt.Count;
                    pieceAt.Add(-1);
                    edges.Add(key, child);
                }
                node = child;
            }
            // A duplicate piece keeps its first id, as SentencePiece rejects duplicates and HF keeps the first.
            if (pieceAt[node] < 0) pieceAt[node] = id;
        }
        if (!anyNormal) throw new ArgumentException("the vocabulary has no normal pieces");
        _unknownScore = min - UnknownPenalty;
        _maxScore = max;

        long[] keys = [.. edges.Keys];
        Array.Sort(keys);   // (parent, byte) order = CSR order
        _first = new int[pieceAt.Count + 1];
        _childByte = new byte[keys.Length];
        _childNode = new int[keys.Length];
        foreach (long k in keys) _first[(int)(k >> 8) + 1]++;
        for (int i = 0; i < pieceAt.Count; i++) _first[i + 1] += _first[i];
        for (int i = 0; i < keys.Length; i++)
        {
            _childByte[i] = (byte)keys[i];
            _childNode[i] = edges[keys[i]];
        }
        _pieceAt = [.. pieceAt];
    }

    private int Child(int node, byte b)
    {
        int lo = _first[node], hi = _first[node + 1] - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            byte m = _childByte[mid];
            if (m == b) return _childNode[mid];
            if (m < b) lo = mid + 1;
            else hi = mid - 1;
        }
        return -1;
    }

    /// <summary>UTF-8 sequence length from the lead byte, as SentencePiece's OneCharLen (continuation bytes count 1).</summary>
    private static int OneCharLen(byte b) => (b >> 4) switch { < 0xC => 1, 0xC or 0xD => 2, 0xE => 3, _ => 4 };

    /// <summary>Segments normalized UTF-8 text into (byte start, byte length, id) pieces, unknown runs merged.</summary>
    public void Encode(ReadOnlySpan<byte> text, List<(int Start, int Length, int Id)> result)
    {
        result.Clear();
        int size = text.Length;
        if (size == 0) return;
        var bestScore = new float[size + 1];
        var startsAt = new int[size + 1];
        var ids = new int[size + 1];
        Array.Fill(startsAt, -1);

        int begin = 0;
        while (begin < size)
        {
            float scoreHere = bestScore[begin];
            int mblen = Math.Min(OneCharLen(text[begin]), size - begin);
            bool hasSingle = false;
            int node = 0;
            for (int pos = begin; pos < size; pos++)
            {
                node = Child(node, text[pos]);
                if (node < 0) break;
                int id = _pieceAt[node];
                if (id < 0 || _types[id] == SentencePieceType.Unused) continue;
                int end = pos + 1, length = end - begin;
                // SentencePiece's arithmetic, for identical tie-breaking: the score expression
                // `user_defined ? length * max_score - 0.1 : score` is a double (the 0.1 literal), so a piece
                // candidate is the exact double sum of two floats, compared against the stored float and then
                // rounded to float; the unknown candidate below stays float throughout.
                double score = _types[id] == SentencePieceType.UserDefined ? (double)(length * _maxScore) - 0.1 : _scores[id];
                double candidate = score + scoreHere;
                if (startsAt[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = (float)candidate;
                    startsAt[end] = begin;
                    ids[end] = id;
                }
                if (length == mblen) hasSingle = true;
            }
            if (!hasSingle)
            {
                int end = begin + mblen;
                float candidate = _unknownScore + scoreHere;
                if (startsAt[end] == -1 || candidate > bestScore[end])
                {
                    bestScore[end] = candidate;
                    startsAt[end] = begin;
                    ids[end] = UnknownId;
                }
            }
            begin += mblen;
        }

        for (int end = size; end > 0; end = startsAt[end])
            result.Add((startsAt[end], end - startsAt[end], ids[end]));
        result.Reverse();

        // Merge runs of unknown pieces.
        int w = 0;
        for (int r = 0; r < result.Count; r++)
        {
            var p = result[r];
            if (w > 0 && p.Id == UnknownId && result[w - 1].Id == UnknownId)
            {
                var prev = result[w - 1];
                result[w - 1] = (prev.Start, prev.Length + p.Length, UnknownId);
            }
            else result[w++] = p;
        }
        result.RemoveRange(w, result.Count - w);
    }
}
