// The proxy data path lands here (Router, Pipeline, UpstreamPool, ...).
