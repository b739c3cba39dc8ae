//! Kubernetes AdmissionReview requests and the workload pod specs inside them.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        let limits = zoll_admission::review::Limits::default();
        let Ok(request) = zoll_admission::review::parse(data, &limits) else {
            return;
        };
        let Some(object) = &request.object else {
            return;
        };
        if let Ok(w) = zoll_admission::workload::Workload::read(&request.kind, object, 64) {
            for c in w.containers() {
                let _ = c.label();
                if let Some(image) = &c.container.image {
                    let _ = zoll_admission::image::ImageName::parse(image);
                }
            }
        }
    });
}
