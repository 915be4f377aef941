// Exercises ManagedEmbedVectorStore's dynamic (Dictionary) route in a Native AOT binary: create, upsert, get, filtered
// search, reopen from disk, delete. Prints one line per check; tools/smoke_binary.sh compares them with hand-computed
// values. Exit 1 on any mismatch.
using ManagedEmbed.VectorData;
using Microsoft.Extensions.VectorData;

string dir = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "aot-vectordata-" + Guid.NewGuid().ToString("N"));
var definition = new VectorStoreCollectionDefinition
{
    Properties =
    [
        new VectorStoreKeyProperty("Id", typeof(string)),
        new VectorStoreDataProperty("Tag", typeof(string)),
        new VectorStoreDataProperty("Year", typeof(int)),
        new VectorStoreVectorProperty("Embedding", typeof(ReadOnlyMemory<float>), 3) { DistanceFunction = DistanceFunction.CosineSimilarity },
    ],
};
static Dictionary<string, object?> Rec(string id, string tag, int year, params float[] v) =>
    new() { ["Id"] = id, ["Tag"] = tag, ["Year"] = year, ["Embedding"] = new ReadOnlyMemory<float>(v) };

using (var store = new ManagedEmbedVectorStore(dir))
{
    var c = store.GetDynamicCollection("docs", definition);
    await c.EnsureCollectionExistsAsync();
    await c.UpsertAsync([Rec("a", "x", 2020, 1, 0, 0), Rec("b", "y", 2021, 0.6f, 0.8f, 0), Rec("c", "x", 2022, 0, 1, 0)]);
}
int failures = 0;
void Check(string what, string got, string want)
{
    Console.WriteLine($"{what}: {got}");
    if (got != want) { Console.Error.WriteLine($"aot-vectordata: {what}: got {got}, want {want}"); failures++; }
}
using (var store = new ManagedEmbedVectorStore(dir))
{
    Check("collections", string.Join(",", await store.ListCollectionNamesAsync().ToListAsync()), "docs");
    var c = store.GetDynamicCollection("docs", definition);
    var b = await c.GetAsync("b");
    Check("get", $"{b?["Id"]} {b?["Tag"]} {b?["Year"]}", "b y 2021");
    var hits = await c.SearchAsync(new ReadOnlyMemory<float>([1f, 0f, 0f]), 3).Select(h => $"{h.Record["Id"]}={h.Score:0.00}").ToListAsync();
    Check("search", string.Join(" ", hits), "a=1.00 b=0.60 c=0.00");
    int since = 2021;
    var filtered = await c.SearchAsync(new ReadOnlyMemory<float>([1f, 0f, 0f]), 3,
        new() { Filter = r => (int)r["Year"]! >= since && (string)r["Tag"]! != "y" }).Select(h => (string)h.Record["Id"]!).ToListAsync();
    Check("filtered", string.Join(",", filtered), "c");
    await c.DeleteAsync("a");
    Check("deleted", (await c.GetAsync("a")) is null ? "gone" : "present", "gone");
    await c.EnsureCollectionDeletedAsync();
    Check("dropped", (await store.CollectionExistsAsync("docs")).ToString(), "False");
}
return failures == 0 ? 0 : 1;
