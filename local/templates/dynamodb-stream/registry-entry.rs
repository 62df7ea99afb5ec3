    spec("{{name}}", Cloud::Aws, Trigger::DynamoDbStream, "{{name}}-", Host::DynamoDbStream { table: {{crate}}::TABLE, run: hosts::{{crate}} }),
