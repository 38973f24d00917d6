//! The one XML reader of the tests: a real parser (quick-xml), so a malformed document fails
//! the test instead of being searched as text.

use quick_xml::events::Event;

/// A parsed document: its elements in document order, each with its text.
#[derive(Debug)]
pub struct XmlDoc {
    elements: Vec<Element>,
}

#[derive(Debug)]
struct Element {
    name: String,
    /// The unescaped text inside the element, its children's included.
    text: String,
}

impl XmlDoc {
    /// Parses a whole document; an error names what is malformed.
    pub fn parse(doc: &str) -> Result<XmlDoc, String> {
        let mut reader = quick_xml::Reader::from_str(doc);
        let mut elements: Vec<Element> = Vec::new();
        // Indexes of the elements still open, innermost last: text belongs to all of them.
        let mut open: Vec<usize> = Vec::new();
        loop {
            match reader.read_event().map_err(|e| e.to_string())? {
                Event::Start(e) => {
                    open.push(elements.len());
                    elements.push(Element::named(e.name().as_ref()));
                }
                Event::Empty(e) => elements.push(Element::named(e.name().as_ref())),
                Event::Text(t) => {
                    let text = t.unescape().map_err(|e| e.to_string())?;
                    for &i in &open {
                        elements[i].text.push_str(&text);
                    }
                }
                Event::End(_) => {
                    open.pop();
                }
                Event::Eof => return Ok(XmlDoc { elements }),
                _ => {}
            }
        }
    }

    /// The text of the first element named `name` (`Some("")` for an empty element).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.elements
            .iter()
            .find(|e| e.name == name)
            .map(|e| e.text.as_str())
    }

    /// Every element's name, in document order.
    pub fn names(&self) -> Vec<&str> {
        self.elements.iter().map(|e| e.name.as_str()).collect()
    }
}

impl Element {
    fn named(name: &[u8]) -> Element {
        Element {
            name: String::from_utf8_lossy(name).into_owned(),
            text: String::new(),
        }
    }
}

/// The text of the first element named `name` in a document that must be well-formed.
pub fn field(doc: &str, name: &str) -> Option<String> {
    XmlDoc::parse(doc)
        .unwrap_or_else(|e| panic!("well-formed XML expected ({e}): {doc}"))
        .text(name)
        .map(str::to_string)
}
