//! The `#[wasm_bindgen]` facade: converts JS values, calls the core, nothing else.
