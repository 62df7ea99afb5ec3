    spec("{{name}}", Cloud::Azure, Trigger::Kafka, "{{name}}-", Host::Functions { folders: &{{crate}}::FUNCTIONS, app: hosts::{{crate}} }),
