//! Kernel symbols from /proc/kallsyms, to name the frames of kernel stacks
//! as `function+0xoffset`.

use std::ops::Range;

/// Text symbols sorted by address.
#[derive(Debug, Default)]
pub struct Symbols {
    starts: Vec<u64>,
    names: Vec<Box<str>>,
}

impl Symbols {
    /// Parses the text of /proc/kallsyms. Lines that do not parse and
    /// symbols shown at address 0 (kallsyms hides addresses from readers
    /// without CAP_SYSLOG) are left out.
    pub fn parse(text: &str) -> Self {
        let mut symbols: Vec<(u64, &str)> = text
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_ascii_whitespace();
                let address = u64::from_str_radix(fields.next()?, 16).ok()?;
                let kind = fields.next()?;
                let name = fields.next()?;
                let is_text = matches!(kind, "t" | "T" | "w" | "W");
                (address != 0 && is_text).then_some((address, name))
            })
            .collect();
        symbols.sort_unstable_by_key(|&(address, _)| address);
        symbols.dedup_by_key(|&mut (address, _)| address);
        Self {
            starts: symbols.iter().map(|&(address, _)| address).collect(),
            names: symbols.iter().map(|&(_, name)| Box::from(name)).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The function containing `address` and the offset into it.
    pub fn lookup(&self, address: u64) -> Option<(&str, u64)> {
        let index = self
            .starts
            .partition_point(|&start| start <= address)
            .checked_sub(1)?;
        Some((&self.names[index], address - self.starts[index]))
    }

    /// `function+0xoffset`, or the bare address when no symbol covers it.
    pub fn frame(&self, address: u64) -> String {
        match self.lookup(address) {
            Some((name, offset)) => format!("{name}+{offset:#x}"),
            None => format!("{address:#x}"),
        }
    }

    /// The addresses of function `name`: from its start to the next symbol.
    pub fn range(&self, name: &str) -> Option<Range<u64>> {
        let index = self.names.iter().position(|known| &**known == name)?;
        let end = self.starts.get(index + 1).copied().unwrap_or(u64::MAX);
        Some(self.starts[index]..end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
ffffffff81000000 T _stext
ffffffff81a00000 T tcp_retransmit_timer
ffffffff81a00400 t tcp_write_timer
ffffffff81a00800 D some_data
ffffffffc0000000 t nf_hook_slow\t[nf_tables]
0000000000000000 T hidden
garbage line
";

    #[test]
    fn names_frames_with_offsets_and_skips_data_and_hidden_symbols() {
        let symbols = Symbols::parse(SAMPLE);
        assert_eq!(
            symbols.frame(0xffffffff81a00010),
            "tcp_retransmit_timer+0x10"
        );
        assert_eq!(symbols.frame(0xffffffff81a00900), "tcp_write_timer+0x500");
        assert_eq!(symbols.frame(0xffffffffc0000004), "nf_hook_slow+0x4");
        assert_eq!(symbols.frame(0x1000), "0x1000");
        assert_eq!(
            symbols.range("tcp_retransmit_timer"),
            Some(0xffffffff81a00000..0xffffffff81a00400)
        );
        assert_eq!(symbols.range("hidden"), None);
    }

    #[test]
    fn kallsyms_without_addresses_gives_no_symbols() {
        assert!(Symbols::parse("0000000000000000 T tcp_close\n").is_empty());
    }
}
