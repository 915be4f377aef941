using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ManagedEmbed.Kernels;

/// <summary>
/// A bounded heap keeping the k best (key, id) pairs, where a higher key is better and, at equal keys, the lower id wins.
/// Callers searching by distance push negated distances. Empty slots hold key −∞ and id <see cref="long.MaxValue"/>,
/// so any real candidate beats them.
/// </summary>
public sealed class TopKHeap
{
    private readonly float[] _keys;
    private readonly long[] _ids;

    /// <summary>Creates an empty heap of capacity <paramref name="k"/> (k ≥ 1).</summary>
    public TopKHeap(int k)
    {
        if (k < 1) throw new ArgumentOutOfRangeException(nameof(k), "k must be at least 1.");
        _keys = new float[k];
        _ids = new long[k];
        Reset();
    }

    /// <summary>The capacity k.</summary>
    public int K => _keys.Length;

    /// <summary>The key of the worst kept entry (−∞ while the heap is not full): only better keys can enter.</summary>
    public float Threshold => _keys[0];

    /// <summary>Empties the heap.</summary>
    public void Reset()
    {
        _keys.AsSpan().Fill(float.NegativeInfinity);
        _ids.AsSpan().Fill(long.MaxValue);
    }

    /// <summary>True when (key, id) would enter the heap.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Accepts(float key, long id) => key > _keys[0] || (key == _keys[0] && id < _ids[0]);

    /// <summary>Offers one candidate.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Push(float key, long id)
    {
        if (Accepts(key, id)) ReplaceRoot(key, id);
    }

    /// <summary>
    /// Offers candidates with keys <c>sign * scores[j]</c> (sign = 1 or −1) and ids <c>firstId + j</c>.
    /// Scores below the current threshold are skipped sixteen at a time with one vector compare.
    /// </summary>
    public void PushRange(ReadOnlySpan<float> scores, long firstId, float sign)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            var vs = Vector512.Create(sign);
            for (; j + 16 <= scores.Length; j += 16)
            {
                // Keys equal to the threshold may still enter (lower id), hence >=.
                var keys = Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(scores), (nuint)j) * vs;
                if (Vector512.GreaterThanOrEqualAny(keys, Vector512.Create(_keys[0])))
                    for (int t = j; t < j + 16; t++) Push(sign * scores[t], firstId + t);
            }
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            var vs = Vector256.Create(sign);
            for (; j + 8 <= scores.Length; j += 8)
            {
                var keys = Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(scores), (nuint)j) * vs;
                if (Vector256.GreaterThanOrEqualAny(keys, Vector256.Create(_keys[0])))
                    for (int t = j; t < j + 8; t++) Push(sign * scores[t], firstId + t);
            }
        }
        for (; j < scores.Length; j++) Push(sign * scores[j], firstId + j);
    }

    /// <summary>Offers candidates with keys <c>sign * scores[j]</c> and ids <c>ids[j]</c>.</summary>
    public void PushRange(ReadOnlySpan<float> scores, ReadOnlySpan<long> ids, float sign)
    {
        if (ids.Length < scores.Length) throw new ArgumentException("ids is shorter than scores.");
        for (int j = 0; j < scores.Length; j++)
        {
            float key = sign * scores[j];
            if (key >= _keys[0]) Push(key, ids[j]);
        }
    }

    /// <summary>Offers every entry of <paramref name="other"/>.</summary>
    public void MergeFrom(TopKHeap other)
    {
        for (int i = 0; i < other._keys.Length; i++)
            if (other._ids[i] != long.MaxValue) Push(other._keys[i], other._ids[i]);
    }

    /// <summary>
    /// Writes the kept entries best first (key descending, id ascending) and returns how many are real;
    /// the remaining slots of <paramref name="keys"/>/<paramref name="ids"/> (up to k) get −∞ / −1. Leaves the heap empty.
    /// </summary>
    public int Drain(Span<float> keys, Span<long> ids)
    {
        int k = _keys.Length;
        if (keys.Length < k || ids.Length < k) throw new ArgumentException("Output spans are shorter than k.");
        int real = 0;
        for (int i = 0; i < k; i++) if (_ids[i] != long.MaxValue) real++;
        // Pop the worst repeatedly and fill from the back: ends sorted best first.
        int size = k;
        while (size > 0)
        {
            float key = _keys[0]; long id = _ids[0];
            size--;
            if (size > 0)
            {
                _keys[0] = _keys[size]; _ids[0] = _ids[size];
                SiftDown(0, size);
            }
            keys[size] = key;
            ids[size] = id;
        }
        // Empty slots sorted last (they are the worst); mark them.
        for (int i = real; i < k; i++) { keys[i] = float.NegativeInfinity; ids[i] = -1; }
        Reset();
        return real;
    }

    private void ReplaceRoot(float key, long id)
    {
        _keys[0] = key; _ids[0] = id;
        SiftDown(0, _keys.Length);
    }

    // Min-heap by "worse first": a is worse than b when its key is lower, or equal with a higher id.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Worse(int a, int b) => _keys[a] < _keys[b] || (_keys[a] == _keys[b] && _ids[a] > _ids[b]);

    private void SiftDown(int i, int size)
    {
        while (true)
        {
            int l = 2 * i + 1;
            if (l >= size) return;
            int c = l + 1 < size && Worse(l + 1, l) ? l + 1 : l;
            if (!Worse(c, i)) return;
            (_keys[c], _keys[i]) = (_keys[i], _keys[c]);
            (_ids[c], _ids[i]) = (_ids[i], _ids[c]);
            i = c;
        }
    }
}
