global using Xunit;

// The fuzz run measures allocations per case and bounds time per case: no other test runs beside it.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
