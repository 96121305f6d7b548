//! Snippets and highlights: where a query's words and phrases are in a
//! result's title and body, as byte ranges of the text as stored.
