using System.Text.Json;
using ManagedEmbed.Kernels;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Index.Tests;

/// <summary>
/// sentence-transformers' quantize_embeddings and the rescoring recipe against tests/fixtures/quant/quant.json, written
/// by the numpy reference tools/gen_quant_fixtures.py.
/// </summary>
public class QuantizationTests
{
    private static readonly Lazy<JsonElement> Fixture = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestPaths.Fixtures, "quant", "quant.json"))).RootElement);

    private static float[] Rows(JsonElement a) => [.. a.EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(v => (float)v.GetDouble())];

    private static float[] Row(JsonElement a, int i) => [.. a[i].EnumerateArray().Select(v => (float)v.GetDouble())];

    private static EmbeddingPrecision Parse(string p) => p switch
    {
        "int8" => EmbeddingPrecision.Int8, "uint8" => EmbeddingPrecision.UInt8, "binary" => EmbeddingPrecision.Binary, "ubinary" => EmbeddingPrecision.UBinary,
        _ => throw new InvalidDataException(p),
    };

    [Fact]
    public void Quantize_equals_the_numpy_reference_byte_for_byte()
    {
        var f = Fixture.Value.GetProperty("quantize");
        int dim = f.GetProperty("dim").GetInt32();
        float[] emb = Rows(f.GetProperty("embeddings"));
        var calibrated = QuantizationRanges.Calibrate(Rows(f.GetProperty("calibration")), dim);
        var given = new QuantizationRanges(Row(f.GetProperty("given_ranges"), 0), Row(f.GetProperty("given_ranges"), 1));
        int cases = 0;
        foreach (var c in f.GetProperty("cases").EnumerateArray())
        {
            var p = Parse(c.GetProperty("precision").GetString()!);
            QuantizationRanges? ranges = c.GetProperty("ranges").GetString() switch { "calibration" => calibrated, "given" => given, _ => null };
            // Expected values as numpy prints them (int8 signed); compare through the stored two's-complement byte.
            byte[] expected = [.. c.GetProperty("codes").EnumerateArray().SelectMany(r => r.EnumerateArray()).Select(v => unchecked((byte)v.GetInt32()))];
            byte[] got = EmbeddingQuantizer.Quantize(emb, dim, p, ranges);
            Assert.True(expected.SequenceEqual(got), $"{p} with {c.GetProperty("ranges")} ranges differs at byte {Enumerable.Range(0, got.Length).FirstOrDefault(i => i >= expected.Length || expected[i] != got[i])}");
            cases++;
        }
        Assert.Equal(8, cases);
    }

    [Fact]
    public void Quantize_hand_computed_values()
    {
        // Ranges [0, 2.55]: step 0.01. 0.9999 → 99.99 → 99 (uint8); 99.99 − 128 = −28.01 → −28 (int8: truncation toward
        // zero, not floor); 0 → 0 / −128; 2.55 → 255 / 127.
        var r = new QuantizationRanges([0f, 0f, 0f], [2.55f, 2.55f, 2.55f]);
        Assert.Equal(new byte[] { 99, 0, 255 }, EmbeddingQuantizer.Quantize([0.9999f, 0f, 2.55f], 3, EmbeddingPrecision.UInt8, r));
        Assert.Equal(new byte[] { unchecked((byte)-28), unchecked((byte)-128), 127 }, EmbeddingQuantizer.Quantize([0.9999f, 0f, 2.55f], 3, EmbeddingPrecision.Int8, r));
        // Signs 1,0,1,1,0,0,0,1 (0 counts as not positive) → 0b1011_0001 = 177; binary = 177 − 128 = 49.
        float[] v = [0.3f, -1f, 2f, 1e-9f, 0f, -0f, -5f, 7f];
        Assert.Equal(new byte[] { 177 }, EmbeddingQuantizer.Quantize(v, 8, EmbeddingPrecision.UBinary));
        Assert.Equal(new byte[] { 49 }, EmbeddingQuantizer.Quantize(v, 8, EmbeddingPrecision.Binary));
        Assert.Equal(1, EmbeddingQuantizer.CodeBytes(8, EmbeddingPrecision.Binary));
        Assert.Equal(384, EmbeddingQuantizer.CodeBytes(384, EmbeddingPrecision.Int8));
    }

    [Fact]
    public void Bad_input_is_refused_with_a_clear_error()
    {
        Assert.Contains("multiple of 8", Assert.Throws<ManagedEmbedException>(() => EmbeddingQuantizer.Quantize(new float[12], 12, EmbeddingPrecision.Binary)).Message);
        Assert.Contains("not finite", Assert.Throws<ManagedEmbedException>(() => EmbeddingQuantizer.Quantize([float.NaN, 1f], 2, EmbeddingPrecision.Int8)).Message);
        Assert.Contains("whole rows", Assert.Throws<ManagedEmbedException>(() => EmbeddingQuantizer.Quantize(new float[5], 2, EmbeddingPrecision.Int8)).Message);
        Assert.Contains("dimension 3", Assert.Throws<ManagedEmbedException>(() =>
            EmbeddingQuantizer.Quantize(new float[4], 2, EmbeddingPrecision.Int8, new QuantizationRanges(new float[3], new float[3]))).Message);
    }

    [Fact]
    public void Search_with_rescoring_equals_the_numpy_reference()
    {
        var f = Fixture.Value.GetProperty("search");
        int dim = f.GetProperty("dim").GetInt32();
        float[] corpus = Rows(f.GetProperty("corpus"));
        float[] queries = Rows(f.GetProperty("queries"));
        int checkedRows = 0;
        foreach (var s in f.GetProperty("searches").EnumerateArray())
        {
            var first = s.GetProperty("first").GetString() == "binary" ? QuantizedFirstPass.Binary : QuantizedFirstPass.Int8;
            var rescore = s.GetProperty("rescore").GetString() switch { "int8" => QuantizedRescore.Int8, "float32" => QuantizedRescore.Float32, _ => QuantizedRescore.None };
            int k = s.GetProperty("k").GetInt32(), mult = s.GetProperty("multiplier").GetInt32();
            var index = new QuantizedIndex(corpus, dim, first, rescore) { Threads = 2 };
            var r = index.Search(queries, k, mult);
            int qi = 0;
            foreach (var want in s.GetProperty("results").EnumerateArray())
            {
                long[] ids = [.. want.GetProperty("ids").EnumerateArray().Select(v => v.GetInt64())];
                double[] scores = [.. want.GetProperty("scores").EnumerateArray().Select(v => v.GetDouble())];
                Assert.Equal(ids, r.LabelsOf(qi).ToArray());
                for (int j = 0; j < k; j++)
                    Assert.True(Math.Abs(r.DistancesOf(qi)[j] - scores[j]) <= 1e-5 * Math.Max(1, Math.Abs(scores[j])),
                        $"{first}/{rescore} query {qi} rank {j}: {r.DistancesOf(qi)[j]} vs {scores[j]}");
                qi++;
                checkedRows++;
            }
        }
        Assert.Equal(36, checkedRows);
    }

    [Fact]
    public void Rescoring_recovers_exact_search_on_clustered_data()
    {
        // Property of the recipe, independent of the fixture: with a large enough multiplier the float rescore returns
        // exactly the exact top-k (the candidates contain it), and the reported bytes per vector follow the layout.
        int dim = 64, n = 2000, k = 10;
        var corpus = TestData.Random(3, n, dim, normalize: true);
        var queries = TestData.Random(4, 20, dim, normalize: true);
        var (_, exact) = TestData.BruteForce(corpus, n, queries, 20, dim, k, Metric.InnerProduct);
        var all = new QuantizedIndex(corpus, dim, QuantizedFirstPass.Binary, QuantizedRescore.Float32);
        Assert.Equal(exact, all.Search(queries, k, rescoreMultiplier: n / k).Labels);
        Assert.Equal(dim / 8 + dim * 4, all.BytesPerVector);
        Assert.Equal(dim / 8 + dim, new QuantizedIndex(corpus, dim, QuantizedFirstPass.Binary).BytesPerVector);
        Assert.Equal(dim, new QuantizedIndex(corpus, dim, QuantizedFirstPass.Int8).BytesPerVector);
        // Recall@10 of binary + int8 rescoring at multiplier 4 on random unit vectors stays well above chance.
        var approx = new QuantizedIndex(corpus, dim, QuantizedFirstPass.Int8).Search(queries, k, 4).Labels;
        int hits = 0;
        for (int q = 0; q < 20; q++) hits += approx.AsSpan(q * k, k).ToArray().Intersect(exact.AsSpan(q * k, k).ToArray()).Count();
        Assert.True(hits >= 0.8 * 20 * k, $"int8 + rescore recall@10 = {hits / 200.0}");
    }

    [Theory]
    [InlineData(QuantizedFirstPass.Binary)]
    [InlineData(QuantizedFirstPass.Int8)]
    public void First_pass_over_query_groups_and_code_chunks_equals_a_scalar_reference(QuantizedFirstPass pass)
    {
        // 37 queries = two full groups of 16 and a tail; 9,000 documents of 384 dims = several L2 chunks of codes (binary
        // 48 B and int8 384 B per document) with a partial last chunk. The reference scores every pair with scalar
        // loops over the codes (popcount of XOR; sum of int8 products) and checks each rank's score exactly and that
        // each returned id really has that score (ties may be returned in either order).
        int dim = 384, n = 9000, m = 37, k = 10;
        var corpus = TestData.Random(11, n, dim, normalize: true);
        var queries = TestData.Random(12, m, dim, normalize: true);
        var index = new QuantizedIndex(corpus, dim, pass, QuantizedRescore.None) { Threads = 2 };
        var r = index.Search(queries, k);
        var precision = pass == QuantizedFirstPass.Binary ? EmbeddingPrecision.Binary : EmbeddingPrecision.Int8;
        int w = EmbeddingQuantizer.CodeBytes(dim, precision);
        byte[] docs = EmbeddingQuantizer.Quantize(corpus, dim, precision, index.Ranges);
        byte[] qs = EmbeddingQuantizer.Quantize(queries, dim, precision, index.Ranges);
        float Score(int q, long j)
        {
            int acc = 0;
            for (int t = 0; t < w; t++)
            {
                byte a = qs[q * w + t], b = docs[j * w + t];
                acc += pass == QuantizedFirstPass.Binary ? -System.Numerics.BitOperations.PopCount((uint)(a ^ b)) : (sbyte)a * (sbyte)b;
            }
            return acc;
        }
        for (int q = 0; q < m; q++)
        {
            float[] want = [.. Enumerable.Range(0, n).Select(j => Score(q, j)).OrderDescending().Take(k)];
            var ids = r.LabelsOf(q).ToArray();
            Assert.Equal(k, ids.Distinct().Count());
            for (int j = 0; j < k; j++)
            {
                Assert.Equal(want[j], r.DistancesOf(q)[j]);
                Assert.Equal(want[j], Score(q, ids[j]));
            }
        }
    }

    [Fact]
    public void Fewer_documents_than_k_end_with_minus_one()
    {
        var corpus = TestData.Random(5, 3, 16, normalize: true);
        var r = new QuantizedIndex(corpus, 16, QuantizedFirstPass.Binary).Search(corpus.AsSpan(0, 16), 5, 2);
        Assert.Equal(0, r.LabelsOf(0)[0]);
        Assert.Equal(new long[] { -1, -1 }, r.LabelsOf(0)[3..].ToArray());
    }
}
