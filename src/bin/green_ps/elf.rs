//! Finding the introspection root in a running process: the address of an exported symbol
//! of a shared object it has mapped, from /proc/PID/maps and the object's ELF dynamic
//! symbol table (read from the file the mapping names).

use std::fs;

/// One object mapped in the target: its path and the address its file offset 0 is at.
struct Mapped {
    path: String,
    start: u64,
}

/// The address of `symbol` in process `pid`, looked for first in objects whose name says
/// libgreen, then in every other mapped file.
pub fn find_symbol(pid: i32, symbol: &str) -> Result<Option<u64>, std::io::Error> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps"))?;
    let mut objects: Vec<Mapped> = Vec::new();
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 6 || !fields[5].starts_with('/') || u64::from_str_radix(fields[2], 16) != Ok(0) {
            continue;
        }
        let Some(start) = fields[0].split('-').next().and_then(|s| u64::from_str_radix(s, 16).ok()) else { continue };
        if !objects.iter().any(|o| o.path == fields[5]) {
            objects.push(Mapped { path: fields[5].to_string(), start });
        }
    }
    objects.sort_by_key(|o| !o.path.contains("libgreen"));
    for object in objects.iter().filter(|o| o.path.contains("green")).chain(objects.iter()) {
        // The target's own view of the file (its mount namespace), then ours.
        let image = fs::read(format!("/proc/{pid}/root{}", object.path)).or_else(|_| fs::read(&object.path));
        let Ok(image) = image else { continue };
        if let Some((value, first_load)) = lookup(&image, symbol) {
            return Ok(Some(object.start - first_load + value));
        }
    }
    Ok(None)
}

fn u16_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?) as u64)
}

fn u32_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?) as u64)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// `symbol`'s value in a 64-bit little-endian ELF image, with the page-aligned virtual
/// address of its first loadable segment (what the mapping of file offset 0 stands for).
fn lookup(image: &[u8], symbol: &str) -> Option<(u64, u64)> {
    if image.get(0..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let (phoff, shoff) = (u64_at(image, 0x20)? as usize, u64_at(image, 0x28)? as usize);
    let (phentsize, phnum) = (u16_at(image, 0x36)? as usize, u16_at(image, 0x38)? as usize);
    let (shentsize, shnum) = (u16_at(image, 0x3a)? as usize, u16_at(image, 0x3c)? as usize);
    let first_load = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&ph| u32_at(image, ph) == Some(1))
        .and_then(|ph| u64_at(image, ph + 0x10))?
        & !0xfff;
    for i in 0..shnum {
        let sh = shoff + i * shentsize;
        if u32_at(image, sh + 4)? != 11 {
            continue; // not SHT_DYNSYM
        }
        let (offset, size, entsize) = (u64_at(image, sh + 0x18)?, u64_at(image, sh + 0x20)?, u64_at(image, sh + 0x38)?);
        let strtab = shoff + u32_at(image, sh + 0x28)? as usize * shentsize;
        let strings = u64_at(image, strtab + 0x18)? as usize;
        for s in (0..size / entsize.max(1)).map(|k| (offset + k * entsize) as usize) {
            let name_at = strings + u32_at(image, s)? as usize;
            let name = image.get(name_at..)?.split(|&b| b == 0).next()?;
            if name == symbol.as_bytes() {
                return Some((u64_at(image, s + 8)?, first_load));
            }
        }
    }
    None
}
