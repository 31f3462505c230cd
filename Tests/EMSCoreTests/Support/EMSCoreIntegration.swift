import Testing

/// Every EMS Core suite of this target, one at a time: each runs the whole service and a stand-in
/// EMS Core, some for a minute (the 30 s outage); side by side with the rest of `make test` on two
/// cores they starved the other suites' store calls past their timeouts.
@Suite(.serialized) struct EMSCoreIntegration {}
