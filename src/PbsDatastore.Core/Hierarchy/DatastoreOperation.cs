namespace PbsDatastore.Core.Hierarchy;

/// <summary>Which operations a datastore allows, as PBS checks it at lookup time.</summary>
public enum DatastoreOperation { Lookup, Read, Write }
