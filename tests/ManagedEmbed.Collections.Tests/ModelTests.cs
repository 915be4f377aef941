using ManagedEmbed.Encoder;
using ManagedEmbed.Testing;

namespace ManagedEmbed.Collections.Tests;

/// <summary>Model-backed collections: documents and query texts embedded by the collection's SentenceEncoder.</summary>
public sealed class ModelTests : IDisposable
{
    private readonly string _dir = TestPaths.NewTempDir("membed-model");
    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string SynthModel()
    {
        string m = Path.Combine(_dir, "model");
        SyntheticModel.Write(new SyntheticModelOptions
        {
            ConfigPath = Path.Combine(TestPaths.RepoRoot, "weights", "synth", "odd-config.json"),
            VocabPath = Path.Combine(TestPaths.MiniLm, "vocab.txt"),
            Seed = 5,
        }, m);
        return m;
    }

    private static readonly string[] Docs =
    [
        "This is a document about pineapple",
        "This is a document about oranges",
        "The weather in Hawaii is sunny",
        "Stock markets fell sharply today",
    ];

    [Fact]
    public void DocumentsAndQueryTextsAreEmbeddedByTheModel()
    {
        string model = SynthModel();
        using var enc = SentenceEncoder.Load(model);
        using (var store = CollectionStore.Open(Path.Combine(_dir, "db")))
        {
            var c = store.CreateCollection("m", DistanceSpace.Cosine, model);
            Assert.Equal(enc.Dimension, c.Dimension);
            c.Add(["a", "b", "c", "d"], Docs, [H.Meta(("k", 1L)), H.Meta(("k", 2L)), H.Meta(("k", 1L)), null]);
            // The stored embedding is the encoder's output (unit-normalized).
            var stored = c.Get(["c"], include: Include.Embeddings).Embeddings![0];
            var direct = enc.Encode(Docs[2]);
            Kernels.VectorMath.L2Normalize(direct);
            for (int i = 0; i < direct.Length; i++) Assert.Equal(direct[i], stored[i], 5);
            for (int i = 0; i < Docs.Length; i++)
            {
                var r = c.Query(queryTexts: [Docs[i]], nResults: 1);
                Assert.Equal(((char)('a' + i)).ToString(), r.Ids[0][0]);
                Assert.True(r.Distances![0][0] < 1e-4f);
            }
            var f = c.Query(queryTexts: [Docs[1]], nResults: 4, where: WhereFilter.Parse("{\"k\":1}"));
            Assert.Equal(["a", "c"], f.Ids[0].Order());
            // Update with a new document re-embeds it.
            c.Update(["d"], documents: [Docs[0]]);
            Assert.Equal(["a", "d"], c.Query(queryTexts: [Docs[0]], nResults: 2).Ids[0].Order());
        }
        // And through the CLI: create --model, add without embeddings, query --text.
        string db2 = Path.Combine(_dir, "db2");
        Assert.Equal(0, H.Run("collection", "create", "--path", db2, "--name", "t", "--model", model).Exit);
        string input = Path.Combine(_dir, "in.jsonl");
        File.WriteAllLines(input, Docs.Select((d, i) => $"{{\"id\":\"x{i}\",\"document\":\"{d}\"}}"));
        var add = H.Run("collection", "add", "--path", db2, "--name", "t", "--input", input);
        Assert.True(add.Exit == 0, add.Err);
        var q = H.Run("collection", "query", "--path", db2, "--name", "t", "--text", Docs[3], "--n", "2");
        Assert.True(q.Exit == 0, q.Err);
        Assert.StartsWith("{\"id\":\"x3\"", q.Out);
    }

    [Fact]
    public void MissingModelDirectoryIsAClearError()
    {
        using var store = CollectionStore.Open(Path.Combine(_dir, "db"));
        var e = Assert.ThrowsAny<Exception>(() => store.CreateCollection("m", model: Path.Combine(_dir, "nope")));
        Assert.IsType<ManagedEmbedException>(e);
        Assert.Empty(store.ListCollections());
    }
}
