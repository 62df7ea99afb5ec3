    spec("{{name}}", Cloud::Gcp, Trigger::PubSubPush, "{{name}}-", Host::Push { topics: &[topics::ORDER_PAID], app: hosts::{{crate}} }),
