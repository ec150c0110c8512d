//! Streaming XML walk shared by the message parsers.
//!
//! [`walk`] reads the document once with quick-xml (no DOM) and reports the
//! text of every leaf element together with its parent's local name, so
//! namespace prefixes never matter. Unknown elements are simply reported and
//! ignored by the caller.

use std::borrow::Cow;

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::reject::{RejectReason, Rejection};

/// Bytes to text in the encoding the XML declaration names.
///
/// UTF-8 (the default, with or without a BOM) is borrowed as is; GB18030,
/// GBK and GB2312 (which GB18030 contains) are transcoded. Any other
/// declared encoding, or bytes invalid in the declared one, are rejected.
pub(crate) fn decode_text(payload: &[u8]) -> Result<Cow<'_, str>, Rejection> {
    let without_bom = payload.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(payload);
    let declared = declared_encoding(without_bom);
    match declared.as_deref() {
        None | Some("utf-8" | "utf8") => std::str::from_utf8(without_bom)
            .map(Cow::Borrowed)
            .map_err(|err| {
                Rejection::new(
                    RejectReason::InvalidEncoding,
                    format!("payload is not valid UTF-8 at byte {}", err.valid_up_to()),
                )
            }),
        Some("gb18030" | "gbk" | "gb2312" | "cp936") => encoding_rs::GB18030
            .decode_without_bom_handling_and_without_replacement(without_bom)
            .map(|text| Cow::Owned(text.into_owned()))
            .ok_or_else(|| {
                Rejection::new(
                    RejectReason::InvalidEncoding,
                    "payload is not valid GB18030/GBK",
                )
            }),
        Some(other) => Err(Rejection::new(
            RejectReason::InvalidEncoding,
            format!("unsupported declared encoding {other:?}"),
        )),
    }
}

/// The lowercased `encoding="..."` of a leading `<?xml ...?>` declaration.
fn declared_encoding(payload: &[u8]) -> Option<String> {
    let head = &payload[..payload.len().min(200)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if !head.starts_with(b"<?xml") {
        return None;
    }
    let end = head.windows(2).position(|w| w == b"?>")?;
    let declaration = std::str::from_utf8(&head[..end]).ok()?;
    let after = &declaration[declaration.find("encoding")? + "encoding".len()..];
    let after = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = after.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let value = &after[1..];
    Some(value[..value.find(quote)?].to_ascii_lowercase())
}

/// What the walk saw, reported to the visitor in document order.
pub(crate) enum XmlEvent<'a> {
    /// An element opened; `depth` is 0 for the root.
    Open { name: &'a str, depth: usize },
    /// A leaf element's complete text (entities resolved, EOLs normalised).
    Leaf {
        parent: &'a str,
        name: &'a str,
        text: &'a str,
    },
}

/// Walks `text`, calling `visit` for each event; stops at the first error.
pub(crate) fn walk(
    text: &str,
    mut visit: impl FnMut(XmlEvent<'_>) -> Result<(), Rejection>,
) -> Result<(), Rejection> {
    let mut reader = Reader::from_str(text);
    // Open element names, concatenated, with their end offsets: no
    // allocation per element once the buffers have grown.
    let mut names = String::with_capacity(256);
    let mut ends: Vec<usize> = Vec::with_capacity(16);
    let mut leaf_text = String::new();
    let mut has_child = false;
    loop {
        let event = reader.read_event().map_err(|err| malformed(&reader, err))?;
        match event {
            Event::Start(start) => {
                let local = start.local_name();
                let name: &str = local.as_ref();
                visit(XmlEvent::Open {
                    name,
                    depth: ends.len(),
                })?;
                names.push_str(name);
                ends.push(names.len());
                leaf_text.clear();
                has_child = false;
            }
            Event::Empty(empty) => {
                let local = empty.local_name();
                let name: &str = local.as_ref();
                visit(XmlEvent::Open {
                    name,
                    depth: ends.len(),
                })?;
                let parent = top(&names, &ends, 0);
                visit(XmlEvent::Leaf {
                    parent,
                    name,
                    text: "",
                })?;
                has_child = true;
            }
            Event::Text(content) => leaf_text.push_str(&content.xml10_content()),
            Event::CData(content) => leaf_text.push_str(&content.into_inner()),
            Event::GeneralRef(reference) => {
                if let Some(ch) = reference
                    .resolve_char_ref()
                    .map_err(|err| malformed(&reader, err))?
                {
                    leaf_text.push(ch);
                } else if let Some(resolved) =
                    quick_xml::escape::resolve_predefined_entity(&reference.xml10_content())
                {
                    leaf_text.push_str(resolved);
                } else {
                    return Err(Rejection::new(
                        RejectReason::MalformedXml,
                        format!("undefined entity &{};", reference.xml10_content()),
                    ));
                }
            }
            Event::End(_) => {
                if ends.is_empty() {
                    return Err(Rejection::new(
                        RejectReason::MalformedXml,
                        "unbalanced end tag",
                    ));
                }
                if !has_child {
                    visit(XmlEvent::Leaf {
                        parent: top(&names, &ends, 1),
                        name: top(&names, &ends, 0),
                        text: leaf_text.trim(),
                    })?;
                }
                ends.pop();
                names.truncate(ends.last().copied().unwrap_or(0));
                leaf_text.clear();
                has_child = true;
            }
            Event::Eof => {
                if !ends.is_empty() {
                    return Err(Rejection::new(
                        RejectReason::MalformedXml,
                        format!("document ends inside <{}>", path(&names, &ends)),
                    ));
                }
                return Ok(());
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
    }
}

/// The name `depth_from_top` levels below the innermost open element ("" if none).
fn top<'a>(names: &'a str, ends: &[usize], depth_from_top: usize) -> &'a str {
    let Some(index) = ends.len().checked_sub(1 + depth_from_top) else {
        return "";
    };
    let start = if index == 0 { 0 } else { ends[index - 1] };
    &names[start..ends[index]]
}

/// `a/b/c` of the open elements.
fn path(names: &str, ends: &[usize]) -> String {
    (0..ends.len())
        .rev()
        .map(|depth| top(names, ends, depth))
        .collect::<Vec<_>>()
        .join("/")
}

fn malformed<E: std::fmt::Display>(reader: &Reader<&[u8]>, err: E) -> Rejection {
    Rejection::new(
        RejectReason::MalformedXml,
        format!("at byte {}: {err}", reader.error_position()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_declared_payloads_are_transcoded() {
        let text = "<?xml version=\"1.0\" encoding=\"GBK\"?><a>皮鞋</a>";
        let (bytes, _, unmappable) = encoding_rs::GB18030.encode(text);
        assert!(!unmappable);
        assert_eq!(decode_text(&bytes).ok().as_deref(), Some(text));
        let declared_utf8_but_gbk = [
            b"<?xml version='1.0' encoding='utf-8'?><a>".as_slice(),
            &bytes[40..],
        ]
        .concat();
        let err = decode_text(&declared_utf8_but_gbk).err().map(|r| r.reason);
        assert_eq!(err, Some(RejectReason::InvalidEncoding));
        let latin = decode_text(b"<?xml version='1.0' encoding='ISO-8859-1'?><a/>").err();
        assert_eq!(latin.map(|r| r.reason), Some(RejectReason::InvalidEncoding));
    }
}
