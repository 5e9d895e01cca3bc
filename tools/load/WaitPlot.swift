import Foundation

/// An SVG plot of queue wait over time, written by hand so that the tool needs nothing else: x is when
/// a job was queued (seconds from the first start), y its wait in milliseconds, one line per product or
/// group of products, each point the p99 of the jobs queued in one time slice.
struct WaitPlot {
    /// A line of the plot: its name, and the jobs' (queued s, wait ms).
    struct Series {
        var name: String
        var jobs: [(at: Double, wait: Double)]
    }

    let title: String
    let series: [Series]

    /// The plot of a load run: the noisy product and the light ones under `noisy`; otherwise each
    /// product, or all together when there are more than eight.
    init(report: LoadReport) {
        let observation = report.observation
        let products = report.workload.products
        func points(_ include: (Int) -> Bool) -> [(at: Double, wait: Double)] {
            observation.jobs.compactMap { job in
                guard include(job.product), job.record.queued >= observation.begin, job.record.started > 0 else { return nil }
                return (Double(job.record.queued - observation.begin) / 1000, Double(Int64(job.record.started) - Int64(job.record.queued)))
            }
        }
        if report.workload.scenario == .noisy {
            series = [
                Series(name: "\(products[0]) (noisy)", jobs: points { $0 == 0 }),
                Series(name: "light (\(products.count - 1) products)", jobs: points { $0 != 0 }),
            ]
        } else if products.count <= 8 {
            series = products.indices.map { index in Series(name: products[index], jobs: points { $0 == index }) }
        } else {
            series = [Series(name: "all \(products.count) products", jobs: points { _ in true })]
        }
        title = "baton-load \(report.workload.scenario.rawValue): \(report.cluster)"
    }

    static let width = 1020.0
    static let height = 540.0
    static let left = 80.0
    static let right = 280.0
    static let top = 60.0
    static let bottom = 60.0
    static let colours = ["#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// The SVG document.
    var svg: String {
        let span = series.flatMap { $0.jobs.map(\.at) }.max() ?? 0
        // About 300 slices across the plot, none shorter than 100 ms.
        let slice = max(0.1, span / 300)
        let lines = series.map { Self.p99(of: $0.jobs, slice: slice) }
        let (xStep, xMax) = Self.scale(max(span, slice))
        let (yStep, yMax) = Self.scale(max(lines.flatMap { $0.map(\.wait) }.max() ?? 0, 1))
        let plotWidth = Self.width - Self.left - Self.right
        let plotHeight = Self.height - Self.top - Self.bottom
        func x(_ seconds: Double) -> Double { Self.left + seconds / xMax * plotWidth }
        func y(_ milliseconds: Double) -> Double { Self.top + plotHeight - milliseconds / yMax * plotHeight }
        func number(_ value: Double) -> String { String(format: "%.1f", value) }
        func label(_ value: Double) -> String { value.rounded() == value ? String(Int(value)) : String(format: "%g", value) }

        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(Self.height))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(Self.height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(number(Self.left))" y="24" font-size="15">\(Self.escape(title))</text>
            <text x="\(number(Self.left))" y="42" fill="#555">queue wait (started − queued) of each job, p99 of the jobs \
            queued in each \(String(format: "%g", slice)) s</text>

            """
        var tick = 0.0
        while tick <= xMax + xStep / 2 {
            out += "<line x1=\"\(number(x(tick)))\" y1=\"\(number(Self.top))\" x2=\"\(number(x(tick)))\" y2=\"\(number(y(0)))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(number(x(tick)))\" y=\"\(number(y(0) + 18))\" text-anchor=\"middle\">\(label(tick))</text>\n"
            tick += xStep
        }
        tick = 0
        while tick <= yMax + yStep / 2 {
            out += "<line x1=\"\(number(Self.left))\" y1=\"\(number(y(tick)))\" x2=\"\(number(x(xMax)))\" y2=\"\(number(y(tick)))\" stroke=\"#eee\"/>\n"
            out += "<text x=\"\(number(Self.left - 8))\" y=\"\(number(y(tick) + 4))\" text-anchor=\"end\">\(label(tick))</text>\n"
            tick += yStep
        }
        out += "<line x1=\"\(number(Self.left))\" y1=\"\(number(y(0)))\" x2=\"\(number(x(xMax)))\" y2=\"\(number(y(0)))\" stroke=\"black\"/>\n"
        out += "<line x1=\"\(number(Self.left))\" y1=\"\(number(Self.top))\" x2=\"\(number(Self.left))\" y2=\"\(number(y(0)))\" stroke=\"black\"/>\n"
        out += "<text x=\"\(number(Self.left + plotWidth / 2))\" y=\"\(number(Self.height - 16))\" text-anchor=\"middle\">"
            + "time queued (s from the first start)</text>\n"
        out += "<text transform=\"translate(22 \(number(Self.top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">queue wait (ms)</text>\n"
        for (index, line) in lines.enumerated() where !line.isEmpty {
            let colour = Self.colours[index % Self.colours.count]
            let points = line.map { "\(number(x($0.at))),\(number(y($0.wait)))" }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"1.5\" stroke-opacity=\"0.85\" points=\"\(points)\"/>\n"
        }
        for (index, entry) in series.enumerated() {
            let colour = Self.colours[index % Self.colours.count]
            let top = Self.top + 10 + Double(index) * 20
            let legendX = Self.width - Self.right + 20
            out += "<line x1=\"\(number(legendX))\" y1=\"\(number(top))\" x2=\"\(number(legendX + 24))\" y2=\"\(number(top))\" stroke=\"\(colour)\" stroke-width=\"3\"/>\n"
            out += "<text x=\"\(number(legendX + 30))\" y=\"\(number(top + 4))\">\(Self.escape(entry.name)) (\(entry.jobs.count) jobs)</text>\n"
        }
        return out + "</svg>\n"
    }

    /// The p99 wait of the jobs queued in each slice of `slice` seconds, at the slice's middle.
    static func p99(of jobs: [(at: Double, wait: Double)], slice: Double) -> [(at: Double, wait: Double)] {
        var slices: [Int: [Double]] = [:]
        for job in jobs { slices[Int(job.at / slice), default: []].append(job.wait) }
        return slices.keys.sorted().map { key in
            let waits = slices[key]!.sorted()
            return ((Double(key) + 0.5) * slice, waits[min(waits.count - 1, Int(Double(waits.count - 1) * 0.99 + 0.5))])
        }
    }

    /// A tick step of 1, 2 or 5 times a power of ten giving about six ticks up to `value`, and the
    /// axis's end: the first tick at or above `value`.
    static func scale(_ value: Double) -> (step: Double, end: Double) {
        let rough = value / 6
        let magnitude = pow(10, floor(log10(rough)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= rough } ?? 10 * magnitude
        return (step, (value / step).rounded(.up) * step)
    }

    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
