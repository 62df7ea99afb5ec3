    spec("{{name}}", Cloud::Aws, Trigger::S3, "{{name}}-", Host::S3 { run: hosts::{{crate}} }),
