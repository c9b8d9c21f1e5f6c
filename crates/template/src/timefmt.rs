//! Go's `time.Format` reference-layout formatting ("2006-01-02T15:04:05Z07:00")
//! for a UTC instant given in Unix seconds, for `timestamp`. Pure: the
//! caller supplies the instant; this module never reads a clock.

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Formats `unix` (seconds, UTC) with Go layout `layout`.
pub(crate) fn format(unix: i64, layout: &str) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil(days);
    let (hour, min, sec) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let weekday = (days + 4).rem_euclid(7) as usize;
    let cum = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let yday = cum[(month - 1) as usize] + day as i64 + i64::from(month > 2 && is_leap(year));
    let month_name = MONTHS[(month - 1) as usize];
    let h12 = if hour % 12 == 0 { 12 } else { hour % 12 };

    // Longest tokens first where one is a prefix of another.
    let tokens: &[&str] = &[
        "January",
        "Jan",
        "Monday",
        "Mon",
        "MST",
        "2006",
        "_2006",
        "__2",
        "002",
        "06",
        "01",
        "02",
        "03",
        "04",
        "05",
        "15",
        "_2",
        "1",
        "2",
        "3",
        "4",
        "5",
        "PM",
        "pm",
        "-07:00:00",
        "-070000",
        "-07:00",
        "-0700",
        "-07",
        "Z07:00:00",
        "Z070000",
        "Z07:00",
        "Z0700",
        "Z07",
    ];
    let mut out = String::new();
    let mut rest = layout;
    'scan: while !rest.is_empty() {
        // Fractional seconds: ".000" / ",999" and so on (the instant has none).
        if let Some(after) = rest.strip_prefix(['.', ',']) {
            let n = after.bytes().take_while(|b| *b == b'0').count();
            let n9 = after.bytes().take_while(|b| *b == b'9').count();
            let run = n.max(n9);
            if run > 0 && !after[run..].starts_with(|c: char| c.is_ascii_digit()) {
                if n > 0 {
                    out.push_str(&rest[..1]);
                    out.push_str(&"0".repeat(n));
                }
                rest = &after[run..];
                continue;
            }
        }
        for t in tokens {
            if let Some(after) = rest.strip_prefix(t) {
                let s = match *t {
                    "January" => month_name.to_string(),
                    "Jan" => month_name[..3].to_string(),
                    "Monday" => DAYS[weekday].to_string(),
                    "Mon" => DAYS[weekday][..3].to_string(),
                    "MST" => "UTC".to_string(),
                    "2006" => format!("{year:04}"),
                    "_2006" => format!("_{year:04}"),
                    "06" => format!("{:02}", year.rem_euclid(100)),
                    "01" => format!("{month:02}"),
                    "1" => month.to_string(),
                    "02" => format!("{day:02}"),
                    "_2" => format!("{day:>2}"),
                    "2" => day.to_string(),
                    "__2" => format!("{yday:>3}"),
                    "002" => format!("{yday:03}"),
                    "15" => format!("{hour:02}"),
                    "03" => format!("{h12:02}"),
                    "3" => h12.to_string(),
                    "04" => format!("{min:02}"),
                    "4" => min.to_string(),
                    "05" => format!("{sec:02}"),
                    "5" => sec.to_string(),
                    "PM" => if hour >= 12 { "PM" } else { "AM" }.to_string(),
                    "pm" => if hour >= 12 { "pm" } else { "am" }.to_string(),
                    "-07:00:00" => "+00:00:00".to_string(),
                    "-070000" => "+000000".to_string(),
                    "-07:00" => "+00:00".to_string(),
                    "-0700" => "+0000".to_string(),
                    "-07" => "+00".to_string(),
                    _ => "Z".to_string(),
                };
                out.push_str(&s);
                rest = after;
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_go_reference_layouts() {
        assert_eq!(
            format(0, "2006-01-02T15:04:05Z07:00"),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(format(0, "2006-01-02"), "1970-01-01");
        // 2021-03-04T05:06:07Z, a Thursday.
        let t = 1_614_834_367;
        assert_eq!(
            format(t, "2006-01-02T15:04:05Z07:00"),
            "2021-03-04T05:06:07Z"
        );
        assert_eq!(
            format(t, "Mon Jan _2 3:04PM 2006 MST"),
            "Thu Mar  4 5:06AM 2021 UTC"
        );
        assert_eq!(format(t, "15:04:05.000 -0700"), "05:06:07.000 +0000");
    }
}
