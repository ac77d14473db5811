"""JSON-RPC plumbing shared by every feature: the transport (framing, stdio and TCP), the
protocol class, request parameters, errors and work-done progress."""
