// SPDX-License-Identifier: GPL-2.0
//! POSIX `getopt` for the tools' QEMU-compatible command lines: `-vF`,
//! `-S path` and `-Spath` all work, `--` ends the options, and parsing
//! stops at the first operand (no reordering).

/// One parsed option: its letter and its argument, if it takes one.
pub type Opt = (char, Option<String>);

/// Parses `args` (without the program name) against `spec` (getopt's
/// syntax: a letter, followed by `:` if it takes an argument). Returns the
/// options and the operands after them.
pub fn getopt(args: &[String], spec: &str) -> Result<(Vec<Opt>, Vec<String>), String> {
    let takes = |c: char| -> Option<bool> {
        let i = spec.find(c)?;
        Some(spec[i + c.len_utf8()..].starts_with(':'))
    };
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        let body: Vec<char> = a[1..].chars().collect();
        let mut j = 0;
        while j < body.len() {
            let c = body[j];
            match takes(c) {
                None | Some(_) if c == ':' => return Err(format!("invalid option -- '{c}'")),
                None => return Err(format!("invalid option -- '{c}'")),
                Some(false) => opts.push((c, None)),
                Some(true) => {
                    let rest: String = body[j + 1..].iter().collect();
                    let arg = if !rest.is_empty() {
                        rest
                    } else {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or_else(|| format!("option requires an argument -- '{c}'"))?
                    };
                    opts.push((c, Some(arg)));
                    break;
                }
            }
            j += 1;
        }
        i += 1;
    }
    Ok((opts, args[i..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn forms() {
        let (o, rest) = getopt(
            &v(&["-vF", "-S", "/s", "-l4M", "-n", "2", "ring", "-x"]),
            "hvFp:S:m:M:l:n:",
        )
        .unwrap();
        assert_eq!(
            o,
            vec![
                ('v', None),
                ('F', None),
                ('S', Some("/s".into())),
                ('l', Some("4M".into())),
                ('n', Some("2".into()))
            ]
        );
        assert_eq!(rest, v(&["ring", "-x"]));
        let (o, rest) = getopt(&v(&["-F", "--", "-v"]), "vF").unwrap();
        assert_eq!((o.len(), rest), (1, v(&["-v"])));
        assert_eq!(
            getopt(&v(&["-x"]), "vF").unwrap_err(),
            "invalid option -- 'x'"
        );
        assert_eq!(
            getopt(&v(&["-S"]), "S:").unwrap_err(),
            "option requires an argument -- 'S'"
        );
        assert!(getopt(&v(&["-:"]), "S:").is_err());
    }
}
