//! The feeds' search box: the query language of [`crate::query`] with
//! autocompletion of field names and values, and a malformed query explained at
//! the box (what is wrong, and where) before anything is asked of the server.

use super::filters::ViewQuery;
use crate::query::{parse, quoted, Field, QueryError};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// A value the box can offer for a field: (field, value as written, label).
pub type Suggestion = (Field, String, String);

/// What any tenant's log may hold: actions, built-in categories and event types.
pub fn builtin_vocabulary() -> Vec<Suggestion> {
    use crate::catalog::{Action, Category, EventType};
    let mut v: Vec<Suggestion> = Vec::new();
    v.extend(
        Action::ALL
            .iter()
            .map(|a| (Field::Action, a.as_str().to_owned(), a.as_str().to_owned())),
    );
    v.extend(
        Category::ALL
            .iter()
            .map(|c| (Field::Category, c.as_str().to_owned(), c.label().to_owned())),
    );
    v.extend(
        EventType::ALL
            .iter()
            .map(|t| (Field::Event, t.as_str().to_owned(), t.as_str().to_owned())),
    );
    v.push((Field::Actor, "system".to_owned(), "System".to_owned()));
    v.push((Field::Source, "stele".to_owned(), "Stele itself".to_owned()));
    v
}

/// What completing the box's last word would give: `(text, label)`, at most eight.
pub fn completions(text: &str, vocabulary: &[Suggestion]) -> Vec<(String, String)> {
    let cut = last_word_start(text);
    let (head, word) = text.split_at(cut);
    let (sign, word) = match word.strip_prefix('-') {
        Some(w) => ("-", w),
        None => ("", word),
    };
    let mut out = Vec::new();
    match word.split_once(':') {
        None if !word.is_empty() || text.trim().is_empty() => {
            let lower = word.to_ascii_lowercase();
            for f in Field::ALL {
                if f.name().starts_with(&lower) && f.name() != lower {
                    out.push((
                        format!("{head}{sign}{}:", f.name()),
                        format!("{}: {}", f.name(), f.hint()),
                    ));
                }
            }
        }
        None => {}
        Some((name, typed)) => {
            let Some(field) = Field::from_name(name) else {
                return out;
            };
            // The values already given (`action:delete,up` completes `up`).
            let (given, partial) = match typed.rfind(',') {
                Some(i) => (&typed[..=i], &typed[i + 1..]),
                None => ("", typed),
            };
            let partial = partial.trim_matches('"').to_lowercase();
            for (f, value, label) in vocabulary {
                if *f != field {
                    continue;
                }
                let matches = value.to_lowercase().contains(&partial)
                    || label.to_lowercase().contains(&partial);
                if matches
                    && !out
                        .iter()
                        .any(|(t, _): &(String, String)| t.ends_with(&quoted(value)))
                {
                    out.push((
                        format!("{head}{sign}{name}:{given}{} ", quoted(value)),
                        if label == value {
                            value.clone()
                        } else {
                            format!("{label} ({value})")
                        },
                    ));
                }
            }
        }
    }
    out.truncate(8);
    out
}

/// Where the last word of `text` starts (a quoted value belongs to its word).
fn last_word_start(text: &str) -> usize {
    let mut in_quote = false;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if c == '"' {
            in_quote = !in_quote;
        } else if c.is_whitespace() && !in_quote {
            start = i + c.len_utf8();
        }
    }
    start
}

/// The query's text with the mistaken part marked: (before, the part, after).
fn marked(text: &str, e: &QueryError) -> (String, String, String) {
    let chars: Vec<char> = text.chars().collect();
    let start = e.start.min(chars.len());
    let end = e.end.clamp(start, chars.len());
    let part: String = chars[start..end].iter().collect();
    (
        chars[..start].iter().collect(),
        if part.is_empty() {
            "␣".to_owned()
        } else {
            part
        },
        chars[end..].iter().collect(),
    )
}

#[component]
pub fn QueryBox(
    #[prop(into)] path: String,
    view_query: Memo<ViewQuery>,
    #[prop(into)] vocabulary: Signal<Vec<Suggestion>>,
) -> impl IntoView {
    let navigate = use_navigate();
    let text = RwSignal::new(String::new());
    let error = RwSignal::new(None::<QueryError>);
    let active = RwSignal::new(None::<usize>);
    let open = RwSignal::new(false);
    Effect::new(move |_| {
        text.set(view_query.read().query_text());
        error.set(None);
    });
    let options = Memo::new(move |_| completions(&text.read(), &vocabulary.read()));
    let accept = move |i: usize| {
        if let Some((t, _)) = options.get_untracked().get(i) {
            text.set(t.clone());
            active.set(None);
            error.set(None);
        }
    };
    let submit = {
        let navigate = navigate.clone();
        let path = path.clone();
        move || {
            let typed = text.get_untracked();
            match parse(&typed) {
                Err(e) => error.set(Some(e)),
                Ok(q) => {
                    error.set(None);
                    open.set(false);
                    let next = view_query.get_untracked().with_query(&q);
                    navigate(&next.href(&path), Default::default());
                }
            }
        }
    };
    let on_submit = {
        let submit = submit.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            submit();
        }
    };
    let keydown = move |ev: leptos::ev::KeyboardEvent| {
        let n = options.get_untracked().len();
        let shown = open.get_untracked() && n > 0;
        match ev.key().as_str() {
            "ArrowDown" if n > 0 => {
                ev.prevent_default();
                open.set(true);
                active.update(|a| *a = Some(a.map_or(0, |i| (i + 1) % n)));
            }
            "ArrowUp" if shown => {
                ev.prevent_default();
                active.update(|a| *a = Some(a.map_or(n - 1, |i| (i + n - 1) % n)));
            }
            "Enter" | "Tab" if shown && active.get_untracked().is_some() => {
                ev.prevent_default();
                if let Some(i) = active.get_untracked() {
                    accept(i);
                }
            }
            "Escape" if shown => {
                ev.prevent_default();
                open.set(false);
                active.set(None);
            }
            _ => {}
        }
    };
    let expanded = move || open.get() && !options.read().is_empty();
    view! {
        <form class="search query" role="search" on:submit=on_submit>
            <div class="query-field">
                <input type="text" role="combobox" aria-label="Search" enterkeyhint="search"
                    aria-autocomplete="list" aria-controls="query-options"
                    aria-expanded=move || expanded().to_string()
                    aria-activedescendant=move || active.get().filter(|_| expanded()).map(|i| format!("query-option-{i}"))
                    aria-invalid=move || error.read().is_some().to_string()
                    aria-describedby="query-help query-error"
                    autocomplete="off" spellcheck="false"
                    placeholder="Search, or filter: actor:jane@… action:delete -category:security instance:\"Acme HQ\""
                    prop:value=text
                    on:input=move |ev| {
                        text.set(event_target_value(&ev));
                        active.set(None);
                        open.set(true);
                        error.set(None);
                    }
                    on:focus=move |_| open.set(true)
                    on:blur=move |_| open.set(false)
                    on:keydown=keydown/>
                <Show when=expanded>
                    <ul id="query-options" class="query-options" role="listbox" aria-label="Suggestions">
                        {move || options.get().into_iter().enumerate().map(|(i, (_, label))| view! {
                            <li id=format!("query-option-{i}") role="option"
                                aria-selected=move || (active.get() == Some(i)).to_string()
                                on:mousedown=move |ev| { ev.prevent_default(); accept(i); }>
                                {label}
                            </li>
                        }).collect_view()}
                    </ul>
                </Show>
            </div>
            <button type="submit">"Search"</button>
            <p id="query-help" class="hint query-help">
                "Free words search descriptions, names, targets and changed values. Filters: "
                {Field::ALL.map(|f| format!("{}:", f.name())).join(" ")}
                " — several values with commas, - to exclude, quotes for spaces."
            </p>
            <p id="query-error" class="field-error" role="alert">
                {move || error.get().map(|e| {
                    let (before, part, after) = marked(&text.get_untracked(), &e);
                    view! {
                        {format!("Not understood {e}. ")}
                        <code class="query-echo">{before}<mark>{part}</mark>{after}</code>
                    }
                })}
            </p>
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary() -> Vec<Suggestion> {
        vec![
            (Field::Action, "delete".into(), "delete".into()),
            (Field::Action, "update".into(), "update".into()),
            (Field::Instance, "Acme HQ".into(), "Acme HQ".into()),
            (
                Field::Actor,
                "jane@northwind.example".into(),
                "Jane <jane@northwind.example>".into(),
            ),
        ]
    }

    #[test]
    fn field_names_complete() {
        let c = completions("registrar ac", &vocabulary());
        let texts: Vec<&str> = c.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["registrar actor:", "registrar action:"]);
        assert_eq!(completions("-cat", &vocabulary())[0].0, "-category:");
        assert_eq!(
            completions("", &vocabulary()).len(),
            8,
            "an empty box offers fields"
        );
    }

    #[test]
    fn values_complete_with_quotes_and_lists() {
        let c = completions("instance:ac", &vocabulary());
        assert_eq!(c[0].0, "instance:\"Acme HQ\" ");
        let c = completions("action:delete,up", &vocabulary());
        assert_eq!(c[0].0, "action:delete,update ");
        let c = completions("actor:jane", &vocabulary());
        assert_eq!(c[0].0, "actor:jane@northwind.example ");
        assert!(completions("nosuch:x", &vocabulary()).is_empty());
        // Every completion parses.
        for typed in ["instance:ac", "action:delete,up", "-actor:ja", "ac"] {
            for (t, _) in completions(typed, &vocabulary()) {
                if !t.ends_with(':') {
                    parse(&t).unwrap_or_else(|e| panic!("{t}: {e}"));
                }
            }
        }
    }

    #[test]
    fn the_mistake_is_marked() {
        let text = "x acter:jane";
        let e = parse(text).unwrap_err();
        let (before, part, after) = marked(text, &e);
        assert_eq!(
            (before.as_str(), part.as_str(), after.as_str()),
            ("x ", "acter", ":jane")
        );
    }
}
