use course_lib::prelude::*;
use std::time::Instant;
fn main() -> Result<()> {
    let fashion = load_fashion_mnist()?;
    let device = training_device();
    let which = std::env::args().nth(1).unwrap_or("conv".into());
    let n: usize = std::env::args().nth(2).map(|s| s.parse().unwrap()).unwrap_or(3200);
    let x = fashion.train.x.head(n);
    let t = Instant::now();
    match which.as_str() {
        "conv" => { let mut ae = ConvAeConfig::new().init(&device)?; ae.fit(Data::autoencoder(&x.head(320)), None, &conv_ae::fit_config().with_epochs(1).with_verbose(false))?; let t = Instant::now(); ae.fit(Data::autoencoder(&x), None, &conv_ae::fit_config().with_epochs(1).with_verbose(false))?; println!("conv: {:.2} ms/step, {:.1} s/epoch", t.elapsed().as_secs_f64()*1000.0/(n as f64/32.0), t.elapsed().as_secs_f64()*55000.0/n as f64); }
        "stacked" => { let mut ae = StackedAeConfig::new().init(&device)?; let t = Instant::now(); ae.fit(Data::autoencoder(&x), None, &stacked_ae::fit_config().with_epochs(1).with_verbose(false))?; println!("stacked: {:.3} ms/step, {:.2} s/epoch", t.elapsed().as_secs_f64()*1000.0/(n as f64/32.0), t.elapsed().as_secs_f64()*55000.0/n as f64); }
        "denoise" => { let mut ae = DenoisingAeConfig::new().init(&device)?; let t = Instant::now(); ae.fit(Data::autoencoder(&x), None, &denoising_ae::fit_config().with_epochs(1).with_verbose(false))?; println!("denoising: {:.3} ms/step, {:.2} s/epoch", t.elapsed().as_secs_f64()*1000.0/(n as f64/32.0), t.elapsed().as_secs_f64()*55000.0/n as f64); }
        "vae" => { let mut ae = VaeConfig::new().init(&device)?; let t = Instant::now(); ae.fit(Data::autoencoder(&x), None, &vae::fit_config().with_epochs(1).with_verbose(false))?; println!("vae: {:.3} ms/step, {:.2} s/epoch", t.elapsed().as_secs_f64()*1000.0/(n as f64/128.0), t.elapsed().as_secs_f64()*55000.0/n as f64); }
        _ => {}
    }
    let _ = t;
    Ok(())
}
