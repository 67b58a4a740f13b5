import struct Foundation.Date

/// The `Retry-After` response field (RFC 9110 §10.2.3): how long the upstream asks us to wait.
public enum RetryAfter {
    /// RFC 9110 §10.2.3: delay-seconds or an HTTP-date (IMF-fixdate; the obsolete RFC 850 and asctime
    /// forms too, §5.6.7) relative to `now`; nil if unparseable. A date in the past (or a negative number of
    /// seconds, which the grammar does not allow but some servers send) gives zero.
    public static func parse(_ value: String, now: Date) -> Duration? {
        let text = value.trimmingWhitespace()
        guard !text.isEmpty else { return nil }
        if text.allSatisfy(\.isASCIIDigit) {
            // delay-seconds = 1*DIGIT; absurdly long values saturate (the deadline bounds the wait anyway).
            return .seconds(Int64(text) ?? Int64(Int32.max))
        }
        if text.first == "-", text.count > 1, text.dropFirst().allSatisfy(\.isASCIIDigit) { return .zero }
        guard let epochSeconds = HTTPDate.parse(text, now: now) else { return nil }
        let interval = Double(epochSeconds) - now.timeIntervalSince1970
        guard interval > 0 else { return .zero }
        // A date centuries ahead (year 9999) is more nanoseconds than Int64 holds: saturate like delay-seconds.
        guard interval < Double(Int32.max) else { return .seconds(Int64(Int32.max)) }
        return .nanoseconds(Int64((interval * 1e9).rounded(.up)))
    }

    /// Only 429 (RFC 6585 §4) and 503 (RFC 9110 §15.6.4) carry a Retry-After we honour; on a 3xx it means
    /// something else and elsewhere it is ignored.
    public static func applies(toStatus status: Int) -> Bool {
        status == 429 || status == 503
    }
}

/// HTTP-date (RFC 9110 §5.6.7) to seconds since the Unix epoch, all three forms:
///
///     Sun, 06 Nov 1994 08:49:37 GMT    IMF-fixdate
///     Sunday, 06-Nov-94 08:49:37 GMT   obsolete RFC 850 format
///     Sun Nov  6 08:49:37 1994         ANSI C's asctime() format
enum HTTPDate {
    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    static let shortDays = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    static let longDays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

    /// `now` decides the century of an RFC 850 two-digit year. Names are matched case-insensitively (lenient;
    /// the grammar says case-sensitive) and the day name is checked to be a day name, not the right one.
    static func parse(_ text: String, now: Date) -> Int64? {
        let words = text.split(separator: " ", omittingEmptySubsequences: true).map { $0.lowercased() }
        guard let first = words.first else { return nil }
        if first.hasSuffix(",") {
            let dayName = String(first.dropLast())
            if words.count == 6, shortDays.contains(dayName), words[5] == "gmt" {
                // IMF-fixdate = day-name "," SP day SP month SP year SP time-of-day SP GMT
                guard words[1].count == 2, let day = Int(words[1]), let month = month(words[2]),
                    let year = fourDigits(words[3]), let time = time(words[4])
                else { return nil }
                return epoch(year: year, month: month, day: day, time: time)
            }
            if words.count == 4, longDays.contains(dayName), words[3] == "gmt" {
                // rfc850-date = day-name-l "," SP day "-" month "-" 2DIGIT SP time-of-day SP GMT
                let parts = words[1].split(separator: "-", omittingEmptySubsequences: false).map(String.init)
                guard parts.count == 3, parts[0].count == 2, let day = Int(parts[0]), let month = month(parts[1]),
                    parts[2].count == 2, parts[2].allSatisfy(\.isASCIIDigit), let yy = Int(parts[2]),
                    let time = time(words[2])
                else { return nil }
                return epoch(year: fullYear(twoDigits: yy, now: now), month: month, day: day, time: time)
            }
            return nil
        }
        // asctime-date = day-name SP month SP ( 2DIGIT / ( SP DIGIT ) ) SP time-of-day SP year
        guard words.count == 5, shortDays.contains(first), let month = month(words[1]),
            (1...2).contains(words[2].count), words[2].allSatisfy(\.isASCIIDigit), let day = Int(words[2]),
            let time = time(words[3]), let year = fourDigits(words[4])
        else { return nil }
        return epoch(year: year, month: month, day: day, time: time)
    }

    private static func month(_ name: String) -> Int? {
        months.firstIndex(of: name).map { $0 + 1 }
    }

    private static func fourDigits(_ text: String) -> Int? {
        guard text.count == 4, text.allSatisfy(\.isASCIIDigit) else { return nil }
        return Int(text)
    }

    /// time-of-day = hour ":" minute ":" second, two digits each; second 60 allows a leap second.
    private static func time(_ text: String) -> Int? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCIIDigit) }),
            let h = Int(parts[0]), let m = Int(parts[1]), let s = Int(parts[2]), h < 24, m < 60, s <= 60
        else { return nil }
        return h * 3600 + m * 60 + s
    }

    /// §5.6.7: a two-digit year more than 50 years in the future is the most recent past year with the same
    /// last two digits.
    static func fullYear(twoDigits yy: Int, now: Date) -> Int {
        let nowYear = civil(fromDays: Int64((now.timeIntervalSince1970 / 86_400).rounded(.down))).year
        var year = nowYear - nowYear % 100 + yy
        if year > nowYear + 50 { year -= 100 }
        return year
    }

    private static func epoch(year: Int, month: Int, day: Int, time: Int) -> Int64? {
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year) else { return nil }
        return daysFromCivil(year: year, month: month, day: day) * 86_400 + Int64(time)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(month)
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + Int64(day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The inverse of `daysFromCivil` (Hinnant's `civil_from_days`); only the year is needed.
    static func civil(fromDays days: Int64) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = Int(doy - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yoe + era * 400) + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    /// Without leading and trailing spaces and tabs (OWS, RFC 9110 §5.6.3).
    fileprivate func trimmingWhitespace() -> String {
        var slice = Substring(self)
        while let c = slice.first, c == " " || c == "\t" { slice.removeFirst() }
        while let c = slice.last, c == " " || c == "\t" { slice.removeLast() }
        return String(slice)
    }
}
