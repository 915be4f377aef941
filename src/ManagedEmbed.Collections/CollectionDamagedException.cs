namespace ManagedEmbed.Collections;

/// <summary>
/// A collection is damaged in a way that only an explicit repair (<see cref="CollectionStore.RepairCollection"/>)
/// may act on: its manifest is missing, or its log ends in a complete record that fails its checksum. Front ends
/// add how to run the repair.
/// </summary>
public sealed class CollectionDamagedException : ManagedEmbedException
{
    /// <summary>Creates the exception.</summary>
    public CollectionDamagedException(string storeRoot, string name, string message) : base(message)
    {
        StoreRoot = storeRoot;
        Name = name;
    }

    /// <summary>The root directory of the collection store.</summary>
    public string StoreRoot { get; }
    /// <summary>The collection's name.</summary>
    public string Name { get; }
}
