    spec("{{name}}", Cloud::Aws, Trigger::Msk, "{{name}}-", Host::Msk { topics: &[topics::ORDER_CONFIRMED], run: hosts::{{crate}} }),
