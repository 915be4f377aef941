using ManagedEmbed.Clustering;
using ManagedEmbed.Collections;
using ManagedEmbed.Encoder;
using ManagedEmbed.Evaluation;
using ManagedEmbed.Extensions.AI;
using ManagedEmbed.Index;
using ManagedEmbed.Search;
using ManagedEmbed.Testing;
using ManagedEmbed.Text;

namespace ManagedEmbed.Cli.Tests;

/// <summary>
/// The C# library examples of README.md (section 4), compiled and run here on a synthetic
/// model so the snippets cannot rot. Each test body is the snippet; keep them in sync.
/// </summary>
public sealed class ReadmeExamplesTests(SyntheticModels models) : IClassFixture<SyntheticModels>
{
    private string ModelDir => models.ModelA;

    [Fact]
    public void Encode_And_CosineMatrix()
    {
        using var model = SentenceEncoder.Load(ModelDir);
        string[] sentences =
        [
            "The cat sat on the mat.", "A feline rested on the rug.", "Dogs love to play fetch.",
            "Machine learning is a subset of AI.", "Artificial intelligence includes ML.",
        ];
        EmbeddingMatrix embeddings = model.Encode(sentences);             // [5, dim], L2-normalized (modules.json has Normalize)
        Console.WriteLine($"Embedding shape: ({embeddings.Count}, {embeddings.Dimension})");
        float[,] sims = Similarity.CosineMatrix(embeddings);               // 5 × 5
        Console.WriteLine($"cat on mat vs feline on rug: {sims[0, 1]:0.0000}");

        Assert.Equal(5, embeddings.Count);
        Assert.Equal(1f, sims[2, 2], 1e-5f);
        Assert.Equal(sims[0, 1], Similarity.Cosine(embeddings.Row(0), embeddings.Row(1)), 1e-6f);
    }

    [Fact]
    public void SemanticSearch_FlatAndSaved()
    {
        using var model = SentenceEncoder.Load(ModelDir);
        var documents = File.ReadAllLines(Path.Combine(TestPaths.RepoRoot, "samples", "corpus.txt"));
        var engine = new SemanticSearch(model);                            // exact (flat) inner product on unit vectors
        engine.Index(documents);
        foreach (SearchHit hit in engine.Search("How do transformers work?", topK: 3))
            Console.WriteLine($"{hit.Rank}. {hit.Score:0.000}  {hit.Document}");

        string path = Path.Combine(TestPaths.NewTempDir("membed-readme"), "kb.faiss");
        engine.Save(path);                                                 // kb.faiss (FAISS IndexFlatIP) + kb.faiss.docs.jsonl
        var again = SemanticSearch.Load(model, path);

        Assert.Equal(engine.Search("How do transformers work?", 3), again.Search("How do transformers work?", 3));
    }

    [Fact]
    public void FlatAndIvfIndex_WithNprobe()
    {
        using var model = SentenceEncoder.Load(ModelDir);
        var corpus = Enumerable.Range(0, 400).Select(i => $"This is document number {i} about topic {i % 10}.").ToList();
        EmbeddingMatrix emb = model.Encode(corpus, batchSize: 64, normalize: true);

        var flat = new FlatIndex(emb.Dimension, Metric.InnerProduct);      // faiss.IndexFlatIP
        flat.Add(emb.Data);
        float[] query = model.Encode("document about topic 3", normalize: true);
        SearchResult exact = flat.Search(query, k: 5);

        var ivf = new IvfIndex(emb.Dimension, nlist: 20, Metric.InnerProduct); // faiss.IndexIVFFlat
        ivf.Train(emb.Data);                                               // k-means; must precede Add
        ivf.Add(emb.Data);
        ivf.Nprobe = 10;                                                   // lists searched per query: recall vs speed
        SearchResult approx = ivf.Search(query, k: 5);
        for (int j = 0; j < 5; j++)
            Console.WriteLine($"exact {exact.Labels[j]} {exact.Distances[j]:0.0000}   ivf {approx.Labels[j]} {approx.Distances[j]:0.0000}");

        string dir = TestPaths.NewTempDir("membed-readme");
        FaissIndexIO.Write(ivf, Path.Combine(dir, "ivf.faiss"));          // faiss.read_index opens it
        IVectorIndex loaded = FaissIndexIO.Read(Path.Combine(dir, "ivf.faiss"));

        Assert.Equal(exact.Labels, ivf.Search(query, 5, nprobe: 20).Labels); // all lists probed = exact
        Assert.Equal(approx.Labels, loaded.Search(query, 5).Labels);
    }

    [Fact]
    public void Collection_WithMetadataFilters_UpdateDelete()
    {
        string dbPath = TestPaths.NewTempDir("membed-readme");
        // The synthetic model stands in for the name (the host's resolver decides what a name loads).
        var options = new CollectionOptions { EmbeddingFunctionResolver = new ManagedEmbedFunctionResolver(_ => ModelDir) };
        using var client = CollectionStore.Open(dbPath, options: options);   // chromadb.PersistentClient(path)
        var collection = client.GetOrCreateCollection("ml_knowledge_base", model: "sentence-transformers/all-MiniLM-L6-v2");
        collection.Add(
            ids: ["doc1", "doc2", "doc3", "doc4", "doc5"],
            documents:
            [
                "Python is a high-level programming language known for simplicity.",
                "Machine learning algorithms learn patterns from data.",
                "Neural networks are inspired by biological neural networks.",
                "BERT is a bidirectional transformer pretrained on MLM.",
                "LoRA reduces trainable parameters using low-rank decomposition.",
            ],
            metadatas:
            [
                new Dictionary<string, MetadataValue> { ["topic"] = "programming", ["difficulty"] = "beginner" },
                new Dictionary<string, MetadataValue> { ["topic"] = "ml", ["difficulty"] = "intermediate" },
                new Dictionary<string, MetadataValue> { ["topic"] = "deep learning", ["difficulty"] = "intermediate" },
                new Dictionary<string, MetadataValue> { ["topic"] = "nlp", ["difficulty"] = "advanced" },
                new Dictionary<string, MetadataValue> { ["topic"] = "fine tuning", ["difficulty"] = "advanced" },
            ]);                                                            // embeddings computed by the collection's model
        Console.WriteLine($"Collection size: {collection.Count()}");

        QueryResult results = collection.Query(queryTexts: ["How do transformers work?"], nResults: 3);
        for (int i = 0; i < results.Ids[0].Count; i++)
            Console.WriteLine($"{i + 1}. {1 - results.Distances![0][i]:0.000}  {results.Documents![0][i]}");

        QueryResult advanced = collection.Query(queryTexts: ["machine learning concepts"], nResults: 3,
            where: WhereFilter.Parse("""{"difficulty": "advanced"}"""));

        collection.Update(ids: ["doc1"], documents: ["Python is a versatile high-level programming language."]);
        collection.Delete(ids: ["doc5"]);
        Console.WriteLine($"After update and delete: {collection.Count()} documents");

        Assert.Equal(3, results.Ids[0].Count);
        Assert.Equal(["doc4", "doc5"], advanced.Ids[0].Order());
        Assert.Equal(4, collection.Count());
        Assert.Equal("Python is a versatile high-level programming language.", collection.Get(ids: ["doc1"]).Documents![0]);
    }

    [Fact]
    public void BatchEncoding_WithProgress()
    {
        using var model = SentenceEncoder.Load(ModelDir, new EncoderOptions { Threads = 2 });
        var largeCorpus = Enumerable.Range(0, 500).Select(i => $"This is document number {i} about topic {i % 10}.").ToList();
        int lastReported = 0, reports = 0;
        // Synchronous (Progress<T> posts to the thread pool, so its last report could land after the assert).
        var progress = new SyncProgress<EncodeProgress>(p =>
        {
            Assert.True(p.Completed >= lastReported, $"progress went back from {lastReported} to {p.Completed}");
            Assert.Equal(500, p.Total);
            lastReported = p.Completed;
            reports++;
        });
        var watch = System.Diagnostics.Stopwatch.StartNew();
        EmbeddingMatrix embeddings = model.Encode(largeCorpus, batchSize: 64, normalize: true, progress: progress);
        Console.WriteLine($"{largeCorpus.Count / watch.Elapsed.TotalSeconds:0} docs/second, shape ({embeddings.Count}, {embeddings.Dimension})");

        Assert.Equal(500, embeddings.Count);
        Assert.Equal(500, lastReported);
        Assert.True(reports >= 500 / 64, $"{reports} progress reports for 8 batches");
    }

    private sealed class SyncProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>Spearman's rho computed here from scratch: Pearson correlation of average ranks.</summary>
    private static double SpearmanByHand(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        static double[] Ranks(IReadOnlyList<double> v)
        {
            var order = Enumerable.Range(0, v.Count).OrderBy(i => v[i]).ToArray();
            var r = new double[v.Count];
            for (int a = 0; a < order.Length;)
            {
                int b = a;
                while (b + 1 < order.Length && v[order[b + 1]] == v[order[a]]) b++;
                for (int t = a; t <= b; t++) r[order[t]] = (a + b) / 2.0 + 1;
                a = b + 1;
            }
            return r;
        }
        double[] rx = Ranks(x), ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxy / Math.Sqrt(sxx * syy);
    }

    [Fact]
    public void Evaluation_PairsAndSts()
    {
        using var model = SentenceEncoder.Load(ModelDir);
        List<LabeledPair> testPairs =
        [
            new(1, "cheap hotel", "affordable accommodation", 1),
            new(2, "cat on the mat", "deep learning model", 0),
            new(3, "neural network", "deep learning", 1),
        ];
        PairEvaluationResult r = EmbeddingEvaluation.EvaluatePairs(model, testPairs, threshold: 0.5);
        Console.WriteLine($"Accuracy on test pairs: {r.Accuracy:P1}");
        for (int i = 0; i < testPairs.Count; i++)
            Console.WriteLine($"{(r.Predictions[i] == testPairs[i].Label ? "correct" : "WRONG")} sim={r.Similarities[i]:0.000} | {testPairs[i].Text1} vs {testPairs[i].Text2}");

        var sts = TextInput.ReadScoredPairs(Path.Combine(TestPaths.RepoRoot, "samples", "sts.tsv"));
        StsEvaluationResult s = EmbeddingEvaluation.EvaluateSts(model, sts);
        Console.WriteLine($"Spearman {s.Spearman:0.0000}  Pearson {s.Pearson:0.0000}");

        Assert.Equal(3, r.Similarities.Length);
        // Each similarity is the cosine of the two texts' own embeddings, and the prediction follows the threshold.
        for (int i = 0; i < testPairs.Count; i++)
        {
            Assert.Equal(Similarity.Cosine(model.Encode(testPairs[i].Text1), model.Encode(testPairs[i].Text2)), r.Similarities[i], 1e-5f);
            Assert.Equal(r.Similarities[i] > 0.5 ? 1 : 0, r.Predictions[i]);
        }
        Assert.Equal(Enumerable.Range(0, 3).Count(i => r.Predictions[i] == testPairs[i].Label) / 3.0, r.Accuracy, 12);
        // Spearman against the gold scores, recomputed by hand from the reported similarities.
        Assert.Equal(sts.Count, s.Similarities.Length);
        Assert.Equal(SpearmanByHand(s.Similarities.Select(v => (double)v).ToList(), sts.Select(p => p.Gold).ToList()), s.Spearman, 9);
    }

    [Fact]
    public void TopicClustering_KMeans()
    {
        using var model = SentenceEncoder.Load(ModelDir);
        string[] sentences =
        [
            "Python is great for data science.", "R is used for statistical computing.",
            "Machine learning requires lots of data.", "Deep learning uses neural networks.",
            "Java is widely used in enterprise software.", "JavaScript powers the web frontend.",
            "Supervised learning uses labeled data.", "Unsupervised learning finds hidden patterns.",
        ];
        ClusteringResult clusters = TopicClustering.Cluster(model, sentences, k: 3, seed: 42); // KMeans(n_clusters=3, random_state=42, n_init=10)
        for (int c = 0; c < clusters.K; c++)
        {
            Console.WriteLine($"Cluster {c}:");
            foreach (int i in clusters.Members(c)) Console.WriteLine($"  - {sentences[i]}");
        }

        Assert.Equal(sentences.Length, Enumerable.Range(0, 3).Sum(c => clusters.Members(c).Count));
    }
}
