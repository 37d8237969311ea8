//! Flows runnable by name: every `#[flow]` (with `validate_parameters`, the default) registers its
//! name, its parameters' JSON schema and an entry that runs it from JSON parameters, so that a
//! program started by an agent can run any of its flows by name.
//!
//! ```
//! use flowcore::prelude::*;
//!
//! #[flow(name = "Greeter")]
//! async fn greeter(name: String, times: u32) -> anyhow::Result<String> {
//!     Ok(name.repeat(times as usize))
//! }
//!
//! # fn main() {
//! let flow = flowcore::registry::find("Greeter").expect("registered");
//! assert_eq!(flow.parameters_schema()["properties"]["times"]["type"], "integer");
//! let state = flowcore::__private::block_on(flow.run(serde_json::json!({"name": "ab", "times": 2})));
//! assert!(state.is_completed());
//! // Bad stored parameters make the run Failed with the field named, never a panic.
//! let state = flowcore::__private::block_on(flow.run(serde_json::json!({"name": "ab", "times": "x"})));
//! assert!(state.message().unwrap().contains("times"));
//! # }
//! ```

use futures_util::future::BoxFuture;

use crate::runtime::flow::{FlowRunIdentity, FlowSpec, FlowState};

/// A flow as registered by `#[flow]`.
pub struct RegisteredFlow {
    /// The flow's settings (name, version, tags, …).
    pub spec: fn() -> &'static FlowSpec,
    /// The JSON schema of its parameters (an object schema, one property per parameter).
    pub schema: fn() -> serde_json::Value,
    /// Runs it from JSON parameters, as the run of the given identity when there is one (else as a
    /// new run); its result value is dropped (the record keeps the state).
    pub run_json:
        fn(Option<FlowRunIdentity>, serde_json::Value) -> BoxFuture<'static, FlowState<()>>,
}

inventory::collect!(RegisteredFlow);

impl RegisteredFlow {
    /// The flow's name.
    pub fn name(&self) -> &'static str {
        (self.spec)().name
    }

    /// The JSON schema of its parameters.
    pub fn parameters_schema(&self) -> serde_json::Value {
        (self.schema)()
    }

    /// Runs it as a tracked flow run from JSON parameters (invalid ones make the run `Failed` with a
    /// message naming the parameter and field).
    pub fn run(&self, parameters: serde_json::Value) -> BoxFuture<'static, FlowState<()>> {
        (self.run_json)(None, parameters)
    }

    /// Runs it as the existing flow run `identity` (a deployment's run the server created, which an
    /// agent started this program for), from JSON parameters.
    pub fn run_as(
        &self,
        identity: FlowRunIdentity,
        parameters: serde_json::Value,
    ) -> BoxFuture<'static, FlowState<()>> {
        (self.run_json)(Some(identity), parameters)
    }
}

impl std::fmt::Debug for RegisteredFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisteredFlow")
            .field("name", &self.name())
            .finish()
    }
}

/// Every flow of this program, by name.
pub fn flows() -> Vec<&'static RegisteredFlow> {
    let mut all: Vec<_> = inventory::iter::<RegisteredFlow>.into_iter().collect();
    all.sort_by_key(|f| f.name());
    all
}

/// The flow named `name`, if this program has one.
pub fn find(name: &str) -> Option<&'static RegisteredFlow> {
    inventory::iter::<RegisteredFlow>
        .into_iter()
        .find(|f| f.name() == name)
}

/// The schema of one parameter type: its JSON schema when it implements
/// [`schemars::JsonSchema`], else `{}` (any value). Used by generated code through
/// [`SchemaProbe`].
#[doc(hidden)]
pub struct SchemaProbe<T>(pub std::marker::PhantomData<T>);

/// Picked when the parameter type has a JSON schema.
#[doc(hidden)]
pub trait ViaJsonSchema {
    /// The schema.
    fn parameter_schema(&self, generator: &mut schemars::SchemaGenerator) -> serde_json::Value;
}

impl<T: schemars::JsonSchema> ViaJsonSchema for SchemaProbe<T> {
    fn parameter_schema(&self, generator: &mut schemars::SchemaGenerator) -> serde_json::Value {
        generator.subschema_for::<T>().to_value()
    }
}

/// Picked otherwise: any value.
#[doc(hidden)]
pub trait ViaAnything {
    /// The schema.
    fn parameter_schema(&self, generator: &mut schemars::SchemaGenerator) -> serde_json::Value;
}

impl<T> ViaAnything for &SchemaProbe<T> {
    fn parameter_schema(&self, _: &mut schemars::SchemaGenerator) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// Builds an object schema from `(name, schema)` pairs and the generator's definitions.
#[doc(hidden)]
pub fn object_schema(
    mut generator: schemars::SchemaGenerator,
    properties: Vec<(&'static str, serde_json::Value)>,
) -> serde_json::Value {
    let required: Vec<&str> = properties.iter().map(|(n, _)| *n).collect();
    let mut schema = serde_json::json!({
        "type": "object",
        "properties": serde_json::Map::from_iter(
            properties.into_iter().map(|(n, s)| (n.to_string(), s))
        ),
        "required": required,
        "additionalProperties": false,
    });
    let definitions = generator.take_definitions(true);
    if !definitions.is_empty() {
        schema["$defs"] = serde_json::Value::Object(definitions);
    }
    schema
}
