//! Kernel function names from `/proc/kallsyms` (`ffffffff81000000 T _stext`,
//! module symbols with a trailing `[module]`).
//!
//! Text symbols only, sorted by address, names in one string (the table of a
//! typical kernel — ~120,000 functions — takes ~4 MiB). Without root (or with
//! `kernel.kptr_restrict` set) every address reads as 0 and the table is
//! empty: kernel frames then show as `[kernel]`.

use std::path::Path;

#[derive(Debug, Clone, Copy)]
struct KernelSymbol {
    address: u64,
    /// `names[name_start..name_end]`.
    name_start: u32,
    name_end: u32,
    /// Index into `modules` + 1, or 0 for the kernel image.
    module: u16,
}

/// The kernel's function symbols.
#[derive(Default)]
pub struct Kallsyms {
    symbols: Vec<KernelSymbol>,
    names: String,
    modules: Vec<String>,
}

/// How far past the last symbol an address still belongs to it.
const LAST_SYMBOL_SPAN: u64 = 1 << 16;

/// The mapping name of kernel-image frames, as perf shows it.
pub const KERNEL_MAPPING: &str = "[kernel.kallsyms]";

impl Kallsyms {
    /// Reads the table; unreadable means empty.
    pub fn load(path: &Path) -> Kallsyms {
        std::fs::read_to_string(path)
            .map(|text| Kallsyms::parse(&text))
            .unwrap_or_default()
    }

    pub fn parse(text: &str) -> Kallsyms {
        let mut table = Kallsyms::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(address), Some(kind), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !matches!(kind, "t" | "T") {
                continue;
            }
            let Ok(address) = u64::from_str_radix(address, 16) else {
                continue;
            };
            if address == 0 {
                continue;
            }
            let module = match fields.next() {
                Some(module) => {
                    let module = module.trim_start_matches('[').trim_end_matches(']');
                    match table.modules.iter().position(|m| m == module) {
                        Some(index) => index + 1,
                        None => {
                            table.modules.push(module.to_string());
                            table.modules.len()
                        }
                    }
                }
                None => 0,
            };
            let (Ok(name_start), Ok(module)) =
                (u32::try_from(table.names.len()), u16::try_from(module))
            else {
                break;
            };
            table.names.push_str(name);
            table.symbols.push(KernelSymbol {
                address,
                name_start,
                name_end: table.names.len() as u32,
                module,
            });
        }
        table.symbols.sort_by_key(|s| s.address);
        table.symbols.shrink_to_fit();
        table.names.shrink_to_fit();
        table
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// The function holding `address` and its mapping (`[kernel.kallsyms]` or
    /// the module's name in brackets).
    pub fn lookup(&self, address: u64) -> Option<(&str, String)> {
        let index = self.symbols.partition_point(|s| s.address <= address);
        let symbol = self.symbols.get(index.checked_sub(1)?)?;
        if index == self.symbols.len() && address - symbol.address > LAST_SYMBOL_SPAN {
            return None;
        }
        let name = &self.names[symbol.name_start as usize..symbol.name_end as usize];
        let mapping = match symbol.module {
            0 => KERNEL_MAPPING.to_string(),
            module => format!("[{}]", self.modules[usize::from(module) - 1]),
        };
        Some((name, mapping))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looks_up_kernel_and_module_functions() {
        let text = "\
ffffffff81000000 T _stext
ffffffff81000100 t do_syscall_64
ffffffff81000200 D some_data
ffffffff81000300 T entry_SYSCALL_64
0000000000000000 A fixed_percpu_data
ffffffffc0000000 t ext4_readdir\t[ext4]
ffffffffc0000100 t nf_hook\t[nf_tables]
broken line
zzzz T bad_address
";
        let table = Kallsyms::parse(text);
        assert_eq!(table.symbols.len(), 5);
        assert_eq!(
            table.lookup(0xffffffff81000150),
            Some(("do_syscall_64", KERNEL_MAPPING.to_string())),
            "data symbols do not end functions"
        );
        assert_eq!(table.lookup(0xffffffff81000250).unwrap().0, "do_syscall_64");
        assert_eq!(
            table.lookup(0xffffffffc0000010),
            Some(("ext4_readdir", "[ext4]".to_string()))
        );
        assert_eq!(table.lookup(0xffffffffc0000110).unwrap().1, "[nf_tables]");
        assert_eq!(table.lookup(0xffffffff80000000), None);
        assert_eq!(table.lookup(u64::MAX), None);
    }

    #[test]
    fn restricted_table_is_empty() {
        let table = Kallsyms::parse("0000000000000000 T _stext\n0000000000000000 t foo\n");
        assert!(table.is_empty());
        assert_eq!(table.lookup(0xffffffff81000000), None);
        assert!(Kallsyms::load(Path::new("/nonexistent")).is_empty());
    }

    #[test]
    fn this_kernel_has_a_syscall_entry() {
        let table = Kallsyms::load(Path::new("/proc/kallsyms"));
        if table.is_empty() {
            eprintln!("skipped: /proc/kallsyms is restricted");
            return;
        }
        let text = std::fs::read_to_string("/proc/kallsyms").unwrap();
        let line = text
            .lines()
            .find(|l| l.ends_with(" do_sys_openat2"))
            .unwrap();
        let address = u64::from_str_radix(line.split(' ').next().unwrap(), 16).unwrap();
        assert_eq!(table.lookup(address + 1).unwrap().0, "do_sys_openat2");
    }
}
