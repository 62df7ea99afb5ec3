    spec("{{name}}", Cloud::Aws, Trigger::Schedule, "{{name}}-", Host::Schedule { run: hosts::{{crate}} }),
