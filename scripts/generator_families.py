import csv, collections, re
from pathlib import Path
c=collections.Counter(); srcs=collections.defaultdict(set)
for d in ['wild-dev','github-art','github-art-2']:
    for r in csv.DictReader(open(Path('/work/shared/data')/d/'manifest.csv')):
        if r['label']=='ai': c[r.get('generator','')]+=1; srcs[r.get('generator','')].add(r['source'])
for d in Path('/work/main/data/extra').glob('*/manifest.csv'):
    for r in csv.DictReader(open(d)):
        if r['label']=='ai': c[r.get('generator','')]+=1; srcs[r.get('generator','')].add(r['source'])
# exact exceptions first (reviewed by hand), then ordered rules
EXACT = {
 'glid-3-xl': 'early-diffusion',                     # 2022 CompVis-LDM-based guided diffusion, not SDXL
 'Juggernaut SD Reborn (juggernaut_reborn.safetensors)': 'sd1-2',   # an SD 1.5 checkpoint
 'InstaFlow 0.9B (XCLiu/instaflow_0_9B_from_sd_1_5)': 'sd1-2',
 'SDXS DreamShaper 512 (IDKiro/sdxs-512-dreamshaper)': 'sd1-2',       # distilled from SD 1.5 / DreamShaper
 'AiArtLab SDXS-1B (AiArtLab/sdxs-1b)': 'open-dit',
 'Segmind Tiny (segmind/tiny-sd)': 'sd1-2',
 'Segmind SegMoE SD 4x2 (segmind/SegMoE-SD-4x2-v0)': 'sd1-2',
 'Segmind SegMoE XL 4x2 (segmind/SegMoE-4x2-v0)': 'sdxl',
 'Segmind SSD-1B (huggingface/segmind/SSD-1B)': 'sdxl',
 'Segmind Vega (huggingface/segmind/Segmind-Vega)': 'sdxl',
 'KOALA 700M (huggingface/etri-vilab/koala-700m-llava-cap)': 'sdxl',  # distilled SDXL U-Net
 'Playground v1 (playgroundai/playground-v1)': 'sd1-2',
 'Playground v2 Large (playgroundai/playground-v2-1024px-aesthetic)': 'sdxl',
 'Playground v2 Medium (playgroundai/playground-v2-512px-base)': 'sdxl',
 'Playground v2 Small (playgroundai/playground-v2-256px-base)': 'sdxl',
 'Playground v2.5 (playgroundai/playground-v2.5-1024px-aesthetic)': 'sdxl',
 'cosxl-edit (sdxl-based)': 'sdxl',
 'NovelAI / SD1.x anime checkpoints via naifu or A1111 (post quotes NAI model hash 925997e9 and other hashes such as e6e8e1fc; per-image model not given)': 'novelai-anime',
 'sd1.5-finetune (Anything-V3.0/AOM3A3) + controlnet-openpose': 'novelai-anime',
 'sd1.5-finetune (Anything-V3.0/AbyssOrangeMix2)': 'novelai-anime',
 'sd1.5-finetune+sd2.1-finetune (cardosAnime_v10, wd-illusion)': 'novelai-anime',
 'sd2.1-finetune (wd-1-5 / WD1.5)': 'novelai-anime',
 'sd2.1-finetune (wd-illusion / WD1.5)': 'novelai-anime',
 'sd2.1-unclip-finetune (wd-1-5-beta2-aesthetic-unclip) + cardosAnimated': 'novelai-anime',
 'AI Horde: MeinaMix': 'novelai-anime', 'AI Horde: Dark Sushi Mix': 'novelai-anime', 'AI Horde: Mistoon Amethyst': 'novelai-anime',
 'HDM-XUT 340M Anime (KBlueLeaf/HDM-xut-340M-anime)': 'open-dit',
 'Anima 1.0 Aesthetic (CalamitousFelicitousness/Anima-1.0-Aesthetic-Diffusers)': 'open-dit',
 'Anima 1.0 Base (vladmandic/Anima-1.0-Base)': 'open-dit',
 'Anima 1.0 Turbo (CalamitousFelicitousness/Anima-1.0-Turbo-Diffusers)': 'open-dit',
 'Anima 1.0 Turbo (SDNQ uint4)': 'open-dit',
 'AI Horde: Realistic Vision': 'sd1-2', 'AI Horde: Perfect World': 'sd1-2', 'AI Horde: Dan Mumford Style': 'sd1-2',
 'AI Horde: stable_diffusion': 'sd1-2', 'AI Horde: Fustercluck + LoRA': 'sdxl',
 'Tiwaz CenKreChro (Tiwaz/CenKreChro)': 'flux',        # a Chroma/Krea merge (FLUX architecture)
 'Owen777 UltraFlux-v1 (Owen777/UltraFlux-v1)': 'flux',
 'Tencent FLUX.1 Dev SRPO (vladmandic/flux.1-dev-SRPO)': 'flux',
 'ShuttleAI Shuttle 3.0 Diffusion (shuttleai/shuttle-3-diffusion)': 'flux',
 'ShuttleAI Shuttle 3.1 Aesthetic (shuttleai/shuttle-3.1-aesthetic)': 'flux',
 'ShuttleAI Shuttle Jaguar (shuttleai/shuttle-jaguar)': 'flux',
 'chroma': 'flux', 'chroma-v29.5': 'flux', 'chroma-v47': 'flux', 'chroma1-hd': 'flux',
 'Freepik F-Lite (Freepik/F-Lite)': 'open-dit', 'Freepik F-Lite 7B (Freepik/F-Lite-7B)': 'open-dit',
 'Freepik F-Lite Texture (Freepik/F-Lite-Texture)': 'open-dit',
 'purplesmartai Pony 7 (purplesmartai/pony-v7-base)': 'open-dit',   # Pony 7 is AuraFlow-based, not SDXL
 'dall': 'dalle-2',
 'sd-1.x fine-tune "mdjrny-v4" / Openjourney-style Midjourney-v4 imitation model (token "midjourney style")': 'sd1-2',
 'dalle-mini': 'gan-clip',                             # VQGAN decoder + BART: no diffusion
 'ideogram': 'api-other', 'recraft': 'api-other', 'seedream': 'api-other', 'mai_image': 'api-other',
 'Microsoft Lens (Jinstudio/Lens)': 'open-dit', 'Microsoft Lens Base (Jinstudio/Lens-Base)': 'open-dit',
 'Microsoft Lens Turbo (Jinstudio/Lens-Turbo)': 'open-dit',
 'diffusion-unspecified-diffusion1': 'unknown', 'diffusion-unspecified-diffusion2': 'unknown',
 'diffusion-unspecified-diffusion3': 'unknown', 'diffusion-unspecified-diffusion4': 'unknown',
 'gan-unspecified': 'gan-clip', 'unknown': 'unknown', '': 'unknown',
 'sd-controlnet-canny': 'sd1-2',
 'amused-256': 'open-dit', 'amused-512': 'open-dit', 'Meissonic (MeissonFlow/Meissonic)': 'open-dit',
 'unidiffuser-v1': 'open-dit', 'SalesForce BLIP-Diffusion (salesforce/blipdiffusion)': 'sd1-2',
 'wuerstchen': 'open-dit', 'stable-cascade': 'open-dit', 'stable-cascade + canny controlnet': 'open-dit',
 'stable-cascade-lite': 'open-dit', 'StabilityAI Stable Cascade (huggingface/stabilityai/stable-cascade)': 'open-dit',
 'disco-diffusion': 'early-diffusion', 'majesty-diffusion': 'early-diffusion',
 'stable-diffusion-beta-2022': 'sd1-2',
}
RULES = [
 (r'dall-?e ?3|gpt-image|gpt-?4o', 'dalle-3'),
 (r'dalle-mini|craiyon', 'dalle-mini'),
 (r'dall-?e ?2|dalle2', 'dalle-2'),
 (r'midjourney', 'midjourney'),
 (r'vqgan|big-sleep|deep-daze|stylegan|biggan', 'gan-clip'),
 (r'nano.?banana|gemini|\bimagen\b', 'gemini-imagen'),
 (r'latent-diffusion|ldm-txt2img', 'early-diffusion'),
 (r'sd ?3|sd3|stable diffusion 3', 'sd3'),
 (r'flux', 'flux'),
 (r'qwen|hidream|hunyuan|kolors|kandinsky|pixart|\bsana\b|lumina|cogview|omnigen|auraflow|cosmos|z-image|z_image|zimage|ernie|bria|fibo|boogu|longcat|firered|nucleus|photoroom|prx|unipic|wan-ai|wan2|chronoedit', 'open-dit'),
 (r'pony|illustrious|noobai|wai-?ani|sdxl|\bxl\b|juggernaut xl|tempest', 'sdxl'),
 (r'sd ?1|sd1|sd-1|sd2|sd 2|stable-diffusion-v1|stable-?diffusion ?v?1|stable-?diffusion[- ]2|stablediffusion 1|stablediffusion 2|dreamshaper|deliberate|clone wars|nitro|mdjrny|openjourney|hypernetwork|img2img|depth2img|core ml', 'sd1-2'),
]
rows=[]
for g in sorted(c):
    fam = EXACT.get(g)
    why = 'reviewed: named exception' if fam else ''
    if fam is None:
        for pat, f in RULES:
            if re.search(pat, g.lower()):
                fam, why = f, f'name matches {pat!r}'; break
    rows.append((g, fam or 'UNMAPPED', c[g], ';'.join(sorted(srcs[g]))))
for r in rows: print(f'{r[1]:16s} {r[2]:4d} {r[0][:110]}')
import json; json.dump(rows, open('/tmp/tax/rows.json','w'))

with open('/work/main/src/artcheck/assets/generator_families.csv', 'w', newline='') as f:
    w = csv.writer(f)
    w.writerow(['generator', 'family', 'images', 'sources', 'how'])
    for g, fam, n, s in rows:
        how = 'named (reviewed)' if g in EXACT else 'by name, reviewed'
        w.writerow([g, fam, n, s, how])
