import Testing

@testable import LatchkeyMetrics

extension MetricsTests {
    /// Text format 0.0.4, compared as whole strings.
    @Suite struct Exposition {
        @Test func counterFamilyRendersHelpTypeAndSortedChildren() {
            let registry = MetricsRegistry()
            let family = registry.counter("requests_total", help: "Requests.", labels: ["route", "class"])
            family.child(["b", "2xx"]).increment()
            family.child(["a", "5xx"]).increment(by: 3)
            family.child(["a", "2xx"]).increment()
            family.increment(["a", "2xx"])
            #expect(
                registry.render() == """
                    # HELP requests_total Requests.
                    # TYPE requests_total counter
                    requests_total{route="a",class="2xx"} 2
                    requests_total{route="a",class="5xx"} 3
                    requests_total{route="b",class="2xx"} 1

                    """)
        }

        @Test func unlabelledFamiliesRenderZeroBeforeFirstUse() {
            let registry = MetricsRegistry()
            _ = registry.counter("c_total", help: "C.")
            _ = registry.gauge("g", help: "G.")
            _ = registry.counter("labelled_total", help: "L.", labels: ["x"])
            #expect(
                registry.render() == """
                    # HELP c_total C.
                    # TYPE c_total counter
                    c_total 0
                    # HELP g G.
                    # TYPE g gauge
                    g 0
                    # HELP labelled_total L.
                    # TYPE labelled_total counter

                    """)
        }

        @Test func gaugeChildrenAndProviderSamplesRenderTogetherSorted() {
            let registry = MetricsRegistry()
            let family = registry.gauge("expiry_seconds", help: "Expiry.", labels: ["connection"])
            let open = family.child(["b"])
            open.set(10)
            open.add(-3)
            open.increment()
            open.decrement()
            family.setProvider {  // the sample without label values is dropped
                [(labelValues: ["c"], value: 12.5), (labelValues: ["a"], value: -1), (labelValues: [], value: 9)]
            }
            #expect(
                registry.render() == """
                    # HELP expiry_seconds Expiry.
                    # TYPE expiry_seconds gauge
                    expiry_seconds{connection="a"} -1
                    expiry_seconds{connection="b"} 7
                    expiry_seconds{connection="c"} 12.5

                    """)
            family.setProvider(nil)
            #expect(!registry.render().contains("12.5"))
        }

        @Test func histogramRendersCumulativeBucketsInfSumAndCount() {
            let registry = MetricsRegistry()
            let family = registry.histogram(
                "latency_seconds", help: "Latency.", labels: ["route"], buckets: [0.005, 0.1, 1])
            let histogram = family.child(["a"])
            histogram.observe(seconds: 0.005)  // le is inclusive
            histogram.observe(.milliseconds(50))
            histogram.observe(seconds: 2)
            #expect(
                registry.render() == """
                    # HELP latency_seconds Latency.
                    # TYPE latency_seconds histogram
                    latency_seconds_bucket{route="a",le="0.005"} 1
                    latency_seconds_bucket{route="a",le="0.1"} 2
                    latency_seconds_bucket{route="a",le="1"} 2
                    latency_seconds_bucket{route="a",le="+Inf"} 3
                    latency_seconds_sum{route="a"} 2.055
                    latency_seconds_count{route="a"} 3

                    """)
        }

        @Test func unlabelledHistogramHasOnlyLe() {
            let registry = MetricsRegistry()
            registry.histogram("h_seconds", help: "H.", buckets: [0.25]).child([]).observe(.seconds(-1))
            #expect(
                registry.render() == """
                    # HELP h_seconds H.
                    # TYPE h_seconds histogram
                    h_seconds_bucket{le="0.25"} 1
                    h_seconds_bucket{le="+Inf"} 1
                    h_seconds_sum 0
                    h_seconds_count 1

                    """)
        }

        @Test func labelValuesEscapeBackslashQuoteAndNewline() {
            let registry = MetricsRegistry()
            registry.counter("e_total", help: "Help with \\ and\nnewline and \"quotes\".", labels: ["v"])
                .child(["a\\b\"c\nd é"]).increment()
            #expect(
                registry.render() == """
                    # HELP e_total Help with \\\\ and\\nnewline and "quotes".
                    # TYPE e_total counter
                    e_total{v="a\\\\b\\"c\\nd é"} 1

                    """)
        }

        @Test(arguments: [
            (0.001, "0.001"), (0.0025, "0.0025"), (1, "1"), (30, "30"), (2.055, "2.055"), (-1, "-1"),
            (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (1e-5, "1e-05"),
        ])
        func numbersUseGoSpelling(value: Double, expected: String) {
            #expect(ExpositionFormat.format(value) == expected)
        }

        @Test func contentTypeIsVersion004() {
            #expect(MetricsRegistry.contentType == "text/plain; version=0.0.4; charset=utf-8")
        }
    }
}
